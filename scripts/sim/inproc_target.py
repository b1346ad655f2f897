"""The simulator's in-process target: the whole system on this process's Ray and Redis.

It starts the SKU owners, a forecaster driven by the show clock (alerts are evaluated at
the end of each step in event time, so they do not depend on speed) and one ingest actor
per channel, each speaking its platform's format. Messages enter as platforms deliver
them, on the channels' inbox streams; answers are read from the published decision and
dead-letter streams. A message's latency runs from its inbox entry to its decision
entry, both stamped by Redis' clock.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import ray

from actors.alerts.actor import start_forecaster
from actors.infra.codec import decision_fields, entry_time_ms
from actors.infra.keys import ChannelKeys
from actors.infra.redis_client import connect
from actors.infra.settings import StoreConfig
from actors.ingest.actor import start_ingest
from actors.owner.client import StockClient
from policies.ledger import SkuSettings
from policies.operations import DefineSku, Operation, ReceiveArrivals, Restock
from scripts.loadgen.messages import format_of
from scripts.sim.target import Answer, Outbound, SimulationError, StepResult


class InProcessTarget:
    def __init__(self, config: StoreConfig, channels: Sequence[str], decision_timeout: float = 60.0) -> None:
        self.decision_timeout = decision_timeout
        self.forecaster = start_forecaster(config, driven=True)
        self.client = StockClient.start(config)
        self.ingest = start_ingest(config, {channel: format_of(channel) for channel in channels})
        self.redis = connect(config.redis_url)
        self.keys = {channel: ChannelKeys.of(config.namespace, channel) for channel in channels}
        #: the last entry read of each channel's decision and dead-letter streams
        self.cursors: dict[str, str] = {}
        for keys in self.keys.values():
            self.cursors[keys.decisions] = self.cursors[keys.dead] = "0-0"

    def define(self, catalogue: Sequence[tuple[SkuSettings, int]]) -> None:
        self._apply([DefineSku(settings, units) for settings, units in catalogue])

    def restock(self, sku: str, quantity: int, transfer_id: str, arrives_at: float | None) -> None:
        self._apply([Restock(sku, quantity, transfer_id, "simulation", arrives_at)])

    def receive(self, sku: str, as_of: float) -> None:
        self._apply([ReceiveArrivals(sku, as_of)])

    def _apply(self, ops: Sequence[Operation]) -> None:
        for decision in self.client.submit(ops):
            if not decision.accepted:
                raise SimulationError(
                    f"{decision.op} of {decision.sku} refused: {decision.reason} {decision.detail}"
                )

    def send(self, messages: Sequence[Outbound]) -> list[Answer]:
        pipe = self.redis.pipeline(transaction=False)
        for message in messages:
            pipe.xadd(self.keys[message.channel].inbox, {"m": message.body})
        entered: dict[tuple[str, str, str], int] = {}
        for message, entry_id in zip(messages, pipe.execute(), strict=True):
            entered[(message.channel, message.kind, message.order_id)] = entry_time_ms(entry_id)
        waiting = Counter(message.channel for message in messages)
        answers: list[Answer] = []
        deadline = time.monotonic() + self.decision_timeout
        while sum(waiting.values()) > 0:
            if time.monotonic() > deadline:
                raise SimulationError(
                    f"no decision within {self.decision_timeout:.0f} s for "
                    f"{dict(+waiting)} messages (is an ingest actor down?)"
                )
            streams: dict[Any, Any] = {}
            for channel in +waiting:
                keys = self.keys[channel]
                streams[keys.decisions] = self.cursors[keys.decisions]
                streams[keys.dead] = self.cursors[keys.dead]
            replies: Any = self.redis.xread(streams, block=1000)
            for stream, entries in replies or []:
                key = stream.decode()
                channel = next(c for c, k in self.keys.items() if key in (k.decisions, k.dead))
                for entry_id, fields in entries:
                    self.cursors[key] = entry_id.decode()
                    found = _answers(channel, entry_id, fields, entered)
                    waiting[channel] -= len(found)
                    answers += found
        return answers

    def end_step(self, at: float, skus: Sequence[str]) -> StepResult:
        sent = ray.get([owner.forecast_sent.remote() for owner in self.client.owners])
        notes, views = ray.get(self.forecaster.advance_to.remote(at, sent, list(skus)))
        return StepResult(notes, {view["sku"]: view for view in views})

    def audit(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        ledgers = self.client.ledgers(skus)
        oversold = self.client.oversold(skus)
        return {
            sku: {
                "on_hand": ledger.on_hand,
                "reserved": ledger.reserved,
                "sold": ledger.sold,
                "available": ledger.available,
                "inbound": ledger.inbound_units,
                "oversold": oversold.get(sku, {}),
            }
            for sku, ledger in ledgers.items()
        }

    def close(self) -> None:
        ray.get([actor.stop.remote() for actor in self.ingest.values()])
        ray.get(self.forecaster.stop.remote())
        self.client.close()
        for actor in [*self.ingest.values(), self.forecaster, *self.client.owners]:
            ray.kill(actor, no_restart=True)
        self.redis.close()


def _answers(
    channel: str, entry_id: bytes, fields: dict[bytes, bytes], entered: dict[tuple[str, str, str], int]
) -> list[Answer]:
    """The answers in one decision entry (a line per decision) or dead-letter entry."""
    if b"decisions" not in fields:
        order_id = fields.get(b"order_id", b"").decode()
        return [Answer(channel, "dead", order_id, False, fields[b"reason"].decode(), None)]
    decided = entry_time_ms(entry_id)
    found = []
    for kind, order_id, accepted, reason, *_ in decision_fields(fields):
        since = entered.get((channel, kind, order_id))
        found.append(
            Answer(
                channel,
                kind,
                order_id,
                accepted == "1",
                reason,
                None if since is None else float(decided - since),
            )
        )
    return found
