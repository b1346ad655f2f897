"""ChannelIngest: one platform's order messages into the stock pool (plain class; the Ray
actor in ``ingest_actor`` wraps it).

Messages arrive on a Redis Stream per channel (``ns:in:{channel}``, field ``m`` holds
the platform's JSON), read through a consumer group, or as a signed webhook batch.
Each batch is parsed with ``policies.channels``, turned into ledger operations in
message order, decided by the SKU owners (durably), and only then answered: one
transaction writes the batch's decisions to ``ns:decisions:{channel}`` (one entry per
batch, a line per decision: ``read_decisions`` splits them), remembers the
accepted orders' SKUs (so a later payment or cancel that names only the order finds
its lines), parks unreadable messages in ``ns:dead:{channel}`` with the reason and the
raw text, and acknowledges the stream entries.

Crash and retry: delivery is at least once. A crash before that transaction leaves the
entries pending; they are read again (by this consumer after a restart, or claimed by
another with XAUTOCLAIM once idle) and, because every line's decision is idempotent,
come back with the same decisions and deduct nothing twice. Multi-line orders are
all-or-nothing: the reserved lines of an order with a rejected line are released
(compensation), also idempotently.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import redis
import structlog

from actors.infra.codec import decision_fields, format_notice, format_order_decision
from actors.infra.keys import ChannelKeys
from actors.infra.settings import StoreConfig
from policies.channels import (
    Cancellation,
    Ignored,
    Payment,
    PlatformOrder,
    Unreadable,
    parse_message,
)
from policies.channels.signing import signature_problem
from policies.ledger import Decision
from policies.operations import Operation
from policies.orders import (
    NoticeDecision,
    OrderDecision,
    compensations_for,
    confirmations_for,
    decide_order,
    releases_for,
    reservations_for,
)

log = structlog.get_logger(__name__)

Submit = Callable[[Sequence[Operation]], list[Decision]]
RawMessage = bytes | str | Mapping[str, Any]

GROUP = "ingest"
#: the most webhook messages in one request
MAX_WEBHOOK_MESSAGES = 10_000


class WebhookRejected(ValueError):
    """A webhook body that is not authentic or not a batch; nothing was applied."""


def read_decisions(
    client: redis.Redis,
    keys: ChannelKeys,
    start: str = "-",
    end: str = "+",
) -> list[tuple[str, list[str]]]:
    """Published decisions as ``(entry id, fields)``, one per decision, in order; fields
    as in ``format_order_decision`` / ``format_notice``."""
    return [
        (entry_id.decode(), fields)
        for entry_id, entry in client.xrange(keys.decisions, start, end)
        for fields in decision_fields(entry)
    ]


class IngestResult(NamedTuple):
    orders: list[OrderDecision]
    notices: list[NoticeDecision]
    dead: list[Unreadable]
    ignored: int


class ChannelIngest:
    """Parses, routes and acknowledges the order messages of one channel."""

    def __init__(
        self,
        config: StoreConfig,
        channel: str,
        fmt: str,
        submit: Submit,
        *,
        secret: bytes | None = None,
        consumer: str | None = None,
        batch_size: int = 1000,
        claim_idle_ms: int = 30_000,
        stream_maxlen: int = 1_000_000,
    ) -> None:
        self.channel = channel
        self.fmt = fmt
        self.submit = submit
        self.secret = secret
        self.consumer = consumer or f"{channel}@{socket.gethostname()}"
        self.batch_size = batch_size
        self.claim_idle_ms = claim_idle_ms
        self.stream_maxlen = stream_maxlen
        self.keys = ChannelKeys.of(config.namespace, channel)
        self.redis = redis.Redis.from_url(config.redis_url, socket_timeout=30.0)
        self.log = log.bind(channel=channel, consumer=self.consumer)
        self._read_own_pending = True  # after a (re)start, finish what this consumer held
        try:
            self.redis.xgroup_create(self.keys.inbox, GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    # ---- the stream -------------------------------------------------------------------

    def poll(self, block_ms: int = 100) -> int:
        """Read and process one batch of entries; how many entries were handled."""
        if self._read_own_pending:
            replies = self.redis.xreadgroup(
                GROUP, self.consumer, {self.keys.inbox: "0"}, count=self.batch_size
            )
            entries = replies[0][1] if replies else []
            if not entries:
                self._read_own_pending = False
                return 0
        else:
            replies = self.redis.xreadgroup(
                GROUP, self.consumer, {self.keys.inbox: ">"}, count=self.batch_size, block=block_ms or None
            )
            entries = replies[0][1] if replies else []
        return self._process_entries(entries)

    def claim_stale(self) -> int:
        """Take over entries another consumer has held longer than ``claim_idle_ms`` (it
        probably died) and process them; how many were handled."""
        handled = 0
        start = "0-0"
        while True:
            reply = self.redis.xautoclaim(
                self.keys.inbox, GROUP, self.consumer, self.claim_idle_ms, start, count=self.batch_size
            )
            start, entries = reply[0], reply[1]
            deleted = reply[2] if len(reply) > 2 else []
            if deleted:  # trimmed from the stream while pending: nothing left to process
                self.redis.xack(self.keys.inbox, GROUP, *deleted)
                self.log.warning("claimed_entries_were_trimmed", count=len(deleted))
            handled += self._process_entries(entries)
            if start in (b"0-0", "0-0") or not entries:
                return handled

    def _process_entries(self, entries: Sequence[tuple[bytes, Mapping[bytes, bytes]]]) -> int:
        if not entries:
            return 0
        ids = [entry_id for entry_id, _ in entries]
        raws: list[RawMessage] = [fields.get(b"m", b"") for _, fields in entries]
        try:
            self.process(raws, ids)
        except Exception:
            # Not acknowledged: the entries stay pending and are read again.
            self._read_own_pending = True
            raise
        return len(entries)

    # ---- webhooks ---------------------------------------------------------------------

    def ingest_webhook(self, body: bytes, signature: str | None) -> IngestResult:
        """A platform's signed batch: a JSON array of messages (or one message). The
        signature is checked over the exact bytes before anything is parsed."""
        problem = signature_problem(self.secret or b"", body, signature)
        if problem:
            self.log.warning("webhook_rejected", reason=problem, bytes=len(body))
            raise WebhookRejected(problem)
        try:
            payload = json.loads(body)
        except ValueError as error:
            raise WebhookRejected(f"body is not valid JSON: {error}") from None
        messages = payload if isinstance(payload, list) else [payload]
        if len(messages) > MAX_WEBHOOK_MESSAGES:
            raise WebhookRejected(f"more than {MAX_WEBHOOK_MESSAGES} messages in one request")
        return self.process(messages)

    # ---- the shared path --------------------------------------------------------------

    def process(self, raws: Sequence[RawMessage], entry_ids: Sequence[bytes] = ()) -> IngestResult:
        """Parse, decide (durably, through ``submit``) and publish a batch of messages;
        acknowledge ``entry_ids`` in the same transaction as the publication."""
        parsed = [parse_message(self.channel, self.fmt, raw) for raw in raws]
        known_skus = self._order_skus(parsed)
        ops: list[Operation] = []
        spans: list[tuple[PlatformOrder | Payment | Cancellation, int, int]] = []
        dead: list[Unreadable] = []
        ignored = 0
        notices: list[NoticeDecision] = []
        for message in parsed:
            if isinstance(message, Unreadable):
                dead.append(message)
                continue
            if isinstance(message, Ignored):
                ignored += 1
                continue
            if isinstance(message, PlatformOrder):
                new_ops: Sequence[Operation] = reservations_for(message)
                known_skus[message.order_id] = [line.sku for line in message.lines]
            else:
                skus = known_skus.get(message.order_id, [])
                new_ops = (
                    confirmations_for(message, skus)
                    if isinstance(message, Payment)
                    else releases_for(message, skus)
                )
            spans.append((message, len(ops), len(ops) + len(new_ops)))
            ops.extend(new_ops)

        decisions = self.submit(ops) if ops else []
        orders: list[OrderDecision] = []
        compensation: list[Operation] = []
        for message, start, end in spans:
            lines = decisions[start:end]
            if isinstance(message, PlatformOrder):
                orders.append(decide_order(message, lines))
                compensation.extend(compensations_for(message, lines))
            else:
                kind = "payment" if isinstance(message, Payment) else "cancel"
                rejected = next((d for d in lines if not d.accepted), None)
                reason = rejected.reason if rejected else "" if lines else "unknown_order"
                notices.append(
                    NoticeDecision(kind, message.order_id, bool(lines) and not rejected, reason, tuple(lines))
                )
        if compensation:
            self.submit(compensation)
        self._publish(orders, notices, dead, ignored, entry_ids)
        return IngestResult(orders, notices, dead, ignored)

    def _order_skus(self, parsed: Sequence[object]) -> dict[str, list[str]]:
        """SKUs of earlier accepted orders named by payments / cancellations without SKUs."""
        wanted = sorted({m.order_id for m in parsed if isinstance(m, Payment | Cancellation) and not m.skus})
        if not wanted:
            return {}
        found = self.redis.hmget(self.keys.orders, wanted)
        return {order_id: raw.decode().split(",") for order_id, raw in zip(wanted, found, strict=True) if raw}

    def _publish(
        self,
        orders: list[OrderDecision],
        notices: list[NoticeDecision],
        dead: list[Unreadable],
        ignored: int,
        entry_ids: Sequence[bytes],
    ) -> None:
        pipe = self.redis.pipeline(transaction=True)
        accepted = {o.order_id: ",".join(d.sku for d in o.lines) for o in orders if o.accepted}
        if accepted:
            pipe.hset(self.keys.orders, mapping=accepted)
        trim = {"maxlen": self.stream_maxlen, "approximate": True}
        if orders or notices:
            # One entry per batch, a line per decision: per-order entries cost more than
            # the decisions themselves at flash-sale rates.
            pipe.xadd(
                self.keys.decisions,
                {
                    "decisions": "\n".join(
                        [format_order_decision(order) for order in orders]
                        + [format_notice(notice) for notice in notices]
                    )
                },
                **trim,
            )
        for letter in dead:
            pipe.xadd(
                self.keys.dead,
                {"reason": letter.reason, "raw": letter.raw, "order_id": letter.order_id},
                **trim,
            )
            self.log.warning("message_dead_lettered", order=letter.order_id, reason=letter.reason)
        counts = {
            "orders": len(orders),
            "accepted": sum(o.accepted for o in orders),
            "notices": len(notices),
            "dead": len(dead),
            "ignored": ignored,
        }
        for name, value in counts.items():
            if value:
                pipe.hincrby(self.keys.stats, name, value)
        if entry_ids:
            pipe.xack(self.keys.inbox, GROUP, *entry_ids)
        pipe.execute()

    def stats(self) -> dict[str, int]:
        """Counters so far and the entries delivered but not yet acknowledged."""
        raw = self.redis.hgetall(self.keys.stats)
        counts = {k.decode(): int(v) for k, v in raw.items()}
        counts["pending"] = int(self.redis.xpending(self.keys.inbox, GROUP)["pending"])
        return counts


def enqueue(client: redis.Redis, keys: ChannelKeys, messages: Sequence[RawMessage]) -> list[str]:
    """Append platform messages to a channel's inbox stream (what a platform connector or
    the simulator does); returns the entry ids."""
    pipe = client.pipeline(transaction=False)
    for message in messages:
        body = message if isinstance(message, bytes | str) else json.dumps(message, ensure_ascii=False)
        pipe.xadd(keys.inbox, {"m": body})
    return [entry_id.decode() for entry_id in pipe.execute()]
