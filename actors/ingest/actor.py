"""The Ray actor around ``ChannelIngest``: one per channel, restarted by Ray on death.

A loop thread drains the channel's stream (and claims entries of dead consumers every
``claim_every_seconds``); webhook batches and stats calls run beside it (a threaded
actor). The actor is its process's composition root: it builds the Redis store and a
``StockClient`` over the running SKU owners (found through ``actors.infra.directory``)
and passes them to the core.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import ray
import structlog

from actors.infra.directory import actor_options, ingest_name, owner_handles
from actors.infra.logging import configure_logging
from actors.infra.placement import one_per_node
from actors.infra.settings import StoreConfig, tune_gc_for_throughput
from actors.ingest.core import DEFAULT_BATCH_SIZE, ChannelIngest, IngestResult
from actors.ingest.store import RedisIngestStore
from actors.owner.client import StockClient
from policies.channels.signing import WebhookHeaders

log = structlog.get_logger(__name__)


class ChannelIngestService:
    def __init__(
        self,
        config: StoreConfig,
        channel: str,
        fmt: str,
        secret: bytes | None = None,
        claim_every_seconds: float = 5.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        mode: str | None = None,
    ) -> None:
        configure_logging()
        self.client = StockClient(config, owner_handles(config))
        self.ingest = ChannelIngest(
            channel,
            fmt,
            RedisIngestStore.connect(config, channel),
            self.client.submit,
            secret=secret,
            consumer=f"{channel}-ingest",
            batch_size=batch_size,
            mode=mode,
        )
        self.claim_every_seconds = claim_every_seconds
        self._stop = threading.Event()
        tune_gc_for_throughput()
        self._loop = threading.Thread(target=self._run, name=f"ingest-{channel}", daemon=True)
        self._loop.start()

    def _run(self) -> None:
        next_claim = time.monotonic() + self.claim_every_seconds
        while not self._stop.is_set():
            try:
                self.ingest.poll(block_ms=50)
                if time.monotonic() >= next_claim:
                    self.ingest.claim_stale()
                    self.ingest.trim_inbox()
                    next_claim = time.monotonic() + self.claim_every_seconds
            except Exception:
                # Entries stay pending and are retried; back off a little meanwhile.
                self.ingest.log.exception("ingest_batch_failed")
                self._stop.wait(0.5)

    def webhook(self, body: bytes, headers: WebhookHeaders, now: float) -> IngestResult:
        """Process a platform batch signed Standard Webhooks style, received at ``now``
        (``WebhookRejected`` if not authentic or stale, ``WebhookUndecodable`` if it does
        not decode)."""
        return self.ingest.ingest_signed(body, headers, now)

    def stats(self) -> dict[str, int]:
        return self.ingest.stats()

    def cpu_seconds(self) -> float:
        """The CPU seconds this actor's process has used (every thread: reading, parsing,
        deciding, publishing, Ray's own), as the owners' ``health`` reports theirs."""
        return time.process_time()

    def stop(self) -> None:
        self._stop.set()
        self._loop.join(timeout=10)
        self.client.close()


#: The Ray actor: restarted on process death; pending stream entries are re-read.
# Ray's stubs type ``ray.remote(**options)`` without the actor option ``max_concurrency``,
# which ray.remote accepts at run time (and the threaded actor needs).
ChannelIngestActor = ray.remote(max_restarts=-1, max_concurrency=4)(ChannelIngestService)  # type: ignore[call-overload]


def start_ingest(
    config: StoreConfig,
    channels: dict[str, str],
    secrets: dict[str, bytes] | None = None,
    modes: dict[str, str] | None = None,
    *,
    detached: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Start (or find) one ingest actor per channel; ``channels`` maps name -> format,
    ``modes`` name -> ``platform-first`` / ``reserve-first`` (the format's default when
    not named: ``policies.channel_modes``)."""
    # one per node, starting after the owners' nodes, so load spreads over the cluster
    strategies = one_per_node(len(channels), offset=config.shard_count)
    actors = {
        channel: ChannelIngestActor.options(
            **actor_options(ingest_name(config, channel), detached=detached), scheduling_strategy=strategy
        ).remote(
            config, channel, fmt, (secrets or {}).get(channel), mode=(modes or {}).get(channel), **options
        )
        for (channel, fmt), strategy in zip(channels.items(), strategies, strict=True)
    }
    ray.get([actor.stats.remote() for actor in actors.values()])
    return actors
