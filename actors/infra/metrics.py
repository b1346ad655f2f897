"""flashstock's process metrics, recorded with Ray's metrics API (``ray.util.metrics``)
where they happen and exported by each node's Ray metrics agent (``ray start
--metrics-export-port``), so Prometheus scrapes them beside Ray's and Serve's own and
Ray's Grafana dashboards can show them together. In Prometheus a ``ray_`` prefix is
added: ``ray_flashstock_commit_seconds``. Scraping costs the same whatever the number of
owners: each node exports what its own processes recorded.

The service's ``/metrics`` page (``serve_app/metrics.py``) adds what lives in Redis
(backlog, oversold orders, ingest counters, open alerts), read in a fixed number of
round trips. ``docs/grafana/flashstock.json`` charts both.

Recording is per batch, never per order: one histogram observation costs a few
microseconds, which per order would be a visible share of an owner's decision budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from ray.util.metrics import Counter, Histogram

from policies.ledger import Decision

#: seconds: from a millisecond to a few seconds (a commit waits for an fsync; a decision
#: may wait in a backlog)
SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]


class OwnerMetrics:
    """What one SKU owner records: each group commit's time from send to durable, and
    its decisions by outcome."""

    def __init__(self, owner: int) -> None:
        tags = {"owner": str(owner)}
        self.commit_seconds = Histogram(
            "flashstock_commit_seconds",
            description="Time from sending a group commit to Redis until it is durable (AOF fsync).",
            boundaries=SECONDS_BUCKETS,
            tag_keys=("owner",),
        )
        self.commit_seconds.set_default_tags(tags)
        self.decisions = Counter(
            "flashstock_decisions",
            description="Decisions made durable by SKU owners, by outcome (accepted, rejected): every "
            "operation (reservations, confirmations, releases, restocks), not orders.",
            tag_keys=("owner", "outcome"),
        )
        self.decisions.set_default_tags(tags)

    def committed(self, seconds: float, decisions: Sequence[Decision]) -> None:
        self.commit_seconds.observe(seconds)
        rejected = sum(1 for decision in decisions if not decision.accepted)
        if rejected:
            self.decisions.inc(rejected, tags={"outcome": "rejected"})
        if len(decisions) > rejected:
            self.decisions.inc(len(decisions) - rejected, tags={"outcome": "accepted"})
