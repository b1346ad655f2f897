"""flashstock refuses a real Redis that keeps nothing on disk, unless told to run anyway."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from actors.infra.durability import Level
from actors.infra.redis_server import RedisServer, free_port, redis_executable
from actors.infra.runtime import VolatileRedisError, guard_durability, redis_runtime
from tests.support import wait_for

REPO = Path(__file__).resolve().parents[2]


def plain_redis(tmp_path: Path, *settings: str) -> Iterator[str]:
    """A redis-server started here with ``settings`` (not flashstock's own), its URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            redis_executable(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(tmp_path),
            "--save",
            "",
            *settings,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_timeout=1.0)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False

    try:
        wait_for(answers, timeout=10.0, message="redis-server to answer")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[str]:
    yield from plain_redis(tmp_path, "--appendonly", "no")


@pytest.fixture
def config_hidden_redis(tmp_path: Path) -> Iterator[str]:
    yield from plain_redis(tmp_path, "--appendonly", "yes", "--rename-command", "CONFIG", "")


@pytest.fixture
def everysec_redis(tmp_path: Path) -> Iterator[str]:
    yield from plain_redis(tmp_path, "--appendonly", "yes", "--appendfsync", "everysec")


def test_redis_without_aof_is_refused_saying_appendonly_no(volatile_redis: str) -> None:
    with pytest.raises(VolatileRedisError, match="appendonly no") as refusal:
        guard_durability(volatile_redis)

    assert "--allow-volatile-redis" in str(refusal.value)


def test_redis_runtime_refuses_an_external_redis_without_aof(volatile_redis: str, tmp_path: Path) -> None:
    with pytest.raises(VolatileRedisError), redis_runtime(tmp_path, volatile_redis):
        pytest.fail("the runtime started on a Redis without the append-only file")


def test_allow_volatile_runs_on_it_and_reports_it(volatile_redis: str, tmp_path: Path) -> None:
    with redis_runtime(tmp_path, volatile_redis, allow_volatile=True) as runtime:
        assert runtime.durability is not None
        assert runtime.durability.level is Level.VOLATILE


def test_redis_that_refuses_config_is_refused(config_hidden_redis: str) -> None:
    with pytest.raises(VolatileRedisError, match="did not answer CONFIG GET"):
        guard_durability(config_hidden_redis)


def test_everysec_runs_with_a_warning(everysec_redis: str) -> None:
    assert guard_durability(everysec_redis).level is Level.WARNING


def test_aof_with_fsync_always_passes(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        assert guard_durability(server.url).level is Level.DURABLE


def test_embedded_redis_passes_the_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with redis_runtime(tmp_path, None) as runtime:
        assert runtime.server is not None
        assert runtime.durability is not None
        assert runtime.durability.level is Level.DURABLE


def test_serve_exits_2_with_one_line_on_a_redis_without_aof(volatile_redis: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASHSTOCK_", "RAY_ADDRESS"))}
    env["REDIS_URL"] = volatile_redis
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.cli",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--port",
            str(free_port()),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("flashstock serve: refusing to run: Redis runs without the append-only file")
