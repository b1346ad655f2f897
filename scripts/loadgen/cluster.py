"""A Ray cluster of several nodes simulated on this machine (``ray.cluster_utils``), for
the chaos audit and the cluster benchmark: each node is a real raylet with its own
worker processes, so removing one kills its actors as losing a machine would."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TypedDict

import ray
from ray.cluster_utils import Cluster

from actors.infra.settings import RAY_NAMESPACE

#: logical CPUs per simulated node: room for every actor (actors need one to be placed;
#: they share the real cores)
CPUS_PER_NODE = 4
#: Ray declares a node dead after ``failure_threshold`` missed health checks, one every
#: ``period``: 3 x 1 s here instead of Ray's default 5 x 3 s, so a lost node's actors
#: restart within seconds (the same settings suit a production cluster on a good network)
FAST_FAILURE_DETECTION = {
    "health_check_initial_delay_ms": 1000,
    "health_check_period_ms": 1000,
    "health_check_failure_threshold": 3,
}


class NodeArgs(TypedDict):
    """The arguments of ``Cluster.add_node`` the simulated nodes use."""

    num_cpus: int
    log_to_stderr: bool


#: what every simulated node shares: its processes' logs stay in files, not this terminal
NODE_ARGS: NodeArgs = {"num_cpus": CPUS_PER_NODE, "log_to_stderr": False}


@contextlib.contextmanager
def simulated_cluster(nodes: int, log_level: str | None = None) -> Iterator[Cluster]:
    """A head and ``nodes - 1`` workers, with this process connected as the driver."""
    if nodes < 1:
        raise ValueError(f"nodes must be >= 1, got {nodes}")
    cluster = Cluster(
        initialize_head=True, head_node_args={**NODE_ARGS, "_system_config": FAST_FAILURE_DETECTION}
    )
    try:
        for _ in range(nodes - 1):
            cluster.add_node(**NODE_ARGS)
        cluster.wait_for_nodes()
        env = {"FLASHSTOCK_LOG_LEVEL": log_level} if log_level else {}
        ray.init(
            address=cluster.address,
            namespace=RAY_NAMESPACE,
            logging_level=logging.WARNING,
            log_to_driver=False,
            runtime_env={"env_vars": env},
        )
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]  # ray.cluster_utils leaves it unannotated


def worker_node(cluster: Cluster, node_id: str) -> object | None:
    """The worker node (not the head, which holds the driver) with ``node_id``."""
    return next((n for n in cluster.worker_nodes if n.node_id == node_id), None)
