"""Which keys belong to the previous storage layout, and the name each takes now."""

from __future__ import annotations

import pytest

from actors.infra import keys
from actors.infra.legacy_keys import LegacyKey, classify, scan_pattern


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("fs:in:web", keys.ChannelKeys.of("fs", "web").inbox),
        ("fs:decisions:a:b", keys.ChannelKeys.of("fs", "a:b").decisions),
        ("fs:dead:web", keys.ChannelKeys.of("fs", "web").dead),
        ("fs:orders:web", keys.ChannelKeys.of("fs", "web").orders),
        ("fs:ingest-stats:web", keys.ChannelKeys.of("fs", "web").stats),
        ("fs:cancel-requests:web", keys.ChannelKeys.of("fs", "web").cancellations),
        ("fs:visible:web", keys.visible("fs", "web")),
        ("fs:visible-changes", keys.visible_changes("fs")),
        ("fs:grants:book", keys.grant_book("fs")),
        ("fs:grants:headroom", keys.grant_headroom("fs")),
        ("fs:grant-updates:web", keys.grant_updates("fs", "web")),
        ("fs:grant-answers:web", keys.grant_answers("fs", "web")),
        ("fs:alerts", keys.alert_stream("fs")),
        ("fs:alerts:open", keys.open_alerts("fs")),
        ("fs:alerts:silences", keys.silences("fs")),
        ("fs:alerts:subscriptions", keys.subscriptions("fs")),
        ("fs:webhook-dead:sub-1", keys.webhook_dead("fs", "sub-1")),
        ("fs:ledger", "fs:legacy-ledger"),
    ],
)
def test_renamed_keys_take_their_current_names(old: str, new: str) -> None:
    assert classify("fs", old) == LegacyKey(old, target=new)


def test_sku_keys_and_the_catalogue_are_owner_data() -> None:
    assert classify("fs", "fs:sku:{a}:b}:lines") == LegacyKey("fs:sku:{a}:b}:lines", sku="a}:b")
    assert classify("fs", "fs:skus") == LegacyKey("fs:skus")
    assert classify("fs", "fs:skus").is_catalogue  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "key",
    [
        "fs:layout",
        "fs:partitions",
        "fs:epoch:2:0",
        "fs:legacy-ledger",
        "fs:in:",
        "fs:sku:{a}:other",
        "fsx:skus",
        "{fs:p3}:state",
        "{fs:ch:web}:in",
        "{fs:alerts}",
    ],
)
def test_current_and_unchanged_keys_are_not_old_ones(key: str) -> None:
    assert classify("fs", key) is None


def test_scan_pattern_escapes_glob_characters_of_the_namespace() -> None:
    assert scan_pattern("a*b?[c]") == "a\\*b\\?\\[c\\]:*"
