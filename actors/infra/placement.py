"""Where actors go on a cluster: the SKU owners (and the ingest actors) one per node.

Ray's ``SPREAD`` strategy is best effort and, when actors start together, often puts two
on one node. So each actor of a group gets a *soft* affinity to one alive node, round
robin: on a cluster with as many nodes as owners, each owner has a node of its own; a
node that dies takes only its own actors with it, and Ray restarts them on the nodes
that remain (soft affinity lets them go elsewhere). On one machine this is the default.
"""

from __future__ import annotations

from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


def alive_nodes() -> list[str]:
    """Ids of the alive nodes that can host actors (have CPUs), in a stable order."""
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]  # Ray leaves it untyped
    return sorted(
        str(node["NodeID"])
        for node in nodes
        if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) > 0
    )


def one_per_node(count: int, offset: int = 0) -> list[Any]:
    """A scheduling strategy for each of ``count`` actors: the i-th prefers node
    ``(i + offset) % nodes``; ``DEFAULT`` when there is a single node."""
    nodes = alive_nodes()
    if len(nodes) <= 1:
        return ["DEFAULT"] * count
    return [NodeAffinitySchedulingStrategy(nodes[(i + offset) % len(nodes)], soft=True) for i in range(count)]
