"""What the HTTP routes talk to: the SKU owners, the forecaster and the channel ingest
paths of one deployment, found on the Ray cluster through ``actors.infra.directory``.

Ray handles answer ``Any``: each call's result is given its type here, at the edge."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

import ray
import redis
from pydantic import BaseModel, Field, model_validator

from actors.infra import keys
from actors.infra.codec import decode_record, text
from actors.infra.directory import forecaster_handle, forecaster_name, owner_handles
from actors.infra.settings import DEFAULT_NAMESPACE, DEFAULT_SHARD_COUNT, StoreConfig
from actors.ingest.core import ChannelIngest, IngestResult
from actors.ingest.store import RedisIngestStore
from actors.owner.client import StockClient
from actors.owner.store import LedgerStore
from policies.alert_lifecycle import Silence, Subscription
from policies.channel_modes import channel_modes
from policies.channels import Cancellation, Payment, PlatformOrder
from policies.channels.signing import DEFAULT_TOLERANCE_SECONDS, WebhookHeaders
from policies.ledger import Decision, Ledger, SkuSettings
from policies.operations import FIELD_SEPARATOR, Adjust, DefineSku, Operation, Restock
from policies.orders import NoticeDecision, OrderDecision
from serve_app.errors import ApiError
from serve_app.guards.checks import FrontDoorArgs
from serve_app.secrets import webhook_secret


class AppArgs(BaseModel):
    """How the HTTP app finds its deployment (the Serve config's ``args``)."""

    redis_url: str
    namespace: str = DEFAULT_NAMESPACE
    shard_count: int = DEFAULT_SHARD_COUNT
    #: channel name -> payload format (douyin, taobao, kuaishou, generic)
    channels: dict[str, str] = Field(
        default_factory=lambda: {
            "douyin": "douyin",
            "taobao": "taobao",
            "kuaishou": "kuaishou",
            "miniprogram": "generic",
        }
    )
    #: channel name -> ``platform-first`` or ``reserve-first``; a channel not named takes
    #: its format's default (``policies.channel_modes``: generic asks first)
    channel_modes: dict[str, str] = Field(default_factory=dict)
    #: the most bytes of a request body
    max_body_bytes: int = 8 * 1024 * 1024
    #: how far (seconds) a signed webhook's ``webhook-timestamp`` may be from the clock
    webhook_tolerance_seconds: float = Field(default=DEFAULT_TOLERANCE_SECONDS, gt=0)
    #: the front door's limits: allowed hosts and origins, body timeout, stream caps
    front_door: FrontDoorArgs = Field(default_factory=FrontDoorArgs)
    #: what the service said at start about Redis persistence (``--allow-volatile-redis``,
    #: ``appendfsync everysec``); None when every acknowledged decision is fsynced
    redis_durability: str | None = None

    @property
    def store(self) -> StoreConfig:
        return StoreConfig(self.redis_url, self.namespace, self.shard_count)

    @model_validator(mode="after")
    def _known_modes(self) -> AppArgs:
        channel_modes(self.channels, self.channel_modes)  # ValueError names the problem
        return self

    @property
    def modes(self) -> dict[str, str]:
        """Every configured channel's mode."""
        return channel_modes(self.channels, self.channel_modes)


def channel_secret(channel: str) -> bytes | None:
    """The webhook secret of ``channel``: ``FLASHSTOCK_WEBHOOK_SECRET_<CHANNEL>`` in this
    process's environment, else the secrets file (``serve_app.secrets``)."""
    return webhook_secret(channel)


class Backend:
    def __init__(self, args: AppArgs) -> None:
        self.args = args
        self.config = args.store
        self.client = StockClient(self.config, owner_handles(self.config))
        forecaster = forecaster_handle(self.config)
        if forecaster is None:
            raise ValueError(f"the forecaster {forecaster_name(self.config)!r} is not running")
        self.forecaster: Any = forecaster
        self.redis = redis.Redis.from_url(args.redis_url, socket_timeout=10.0)
        self.store = LedgerStore(self.config)
        # the configured channels: their webhooks, and their orders sent to POST /v1/orders
        self.ingest = {
            channel: ChannelIngest(
                channel,
                fmt,
                RedisIngestStore.connect(self.config, channel),
                self.client.submit,
                secret=channel_secret(channel),
                consumer=f"{channel}-http",
                tolerance_seconds=args.webhook_tolerance_seconds,
                mode=args.modes[channel],
            )
            for channel, fmt in args.channels.items()
        }

    # ---- SKUs ---------------------------------------------------------------------------

    def define(self, settings: SkuSettings, on_hand: int) -> Decision:
        decision = self.client.submit([DefineSku(settings, on_hand)])[0]
        if decision.accepted:
            self.forecaster.update_skus.remote([settings])
        return decision

    def apply(self, op: Operation) -> Decision:
        return self.client.submit([op])[0]

    def restock(
        self, sku: str, quantity: int, transfer_id: str, source: str, arrives_at: float | None
    ) -> Decision:
        return self.apply(Restock(sku, quantity, transfer_id, source, arrives_at))

    def adjust(self, sku: str, delta: int, adjustment_id: str, reason: str, actor: str) -> Decision:
        return self.apply(Adjust(sku, delta, adjustment_id, reason, actor))

    def all_skus(self) -> list[str]:
        return sorted(text(s) for s in self.redis.smembers(self.store.skus_key))

    def ledgers(self, skus: Sequence[str]) -> dict[str, Ledger]:
        return self.client.ledgers(skus)

    def settings(self, skus: Sequence[str]) -> dict[str, SkuSettings]:
        return self.client.settings(skus)

    def views(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        views: list[dict[str, Any]] = ray.get(self.forecaster.views.remote(list(skus)))
        return {view["sku"]: view for view in views}

    def oversold(self, skus: Sequence[str]) -> dict[str, dict[str, int]]:
        return self.client.oversold(skus)

    async def sku_state(
        self, sku: str
    ) -> tuple[tuple[Ledger, SkuSettings | None, dict[str, int]] | None, dict[str, Any] | None]:
        """(ledger, settings, oversold) and the forecaster's view of one SKU, fetched
        concurrently (two Ray calls in flight, not four one after another)."""
        owner = self.client.owners[self.client.owner_index(sku)]
        states, views = await asyncio.gather(owner.states.remote([sku]), self.forecaster.views.remote([sku]))
        return states.get(sku), (views[0] if views else None)

    # ---- orders -------------------------------------------------------------------------

    def ingest_for(self, channel: str, field: str = "channel") -> ChannelIngest:
        """The ingest core that decides ``channel``'s orders and notices; 422
        ``unknown_channel`` (naming ``field``) when the deployment does not configure it.
        Channels are configured, never made up by a request: nothing is created for an
        unknown name (no keys, no connection)."""
        ingest = self.ingest.get(channel)
        if ingest is None:
            known = ", ".join(sorted(self.ingest)) or "none"
            message = f"channel {channel!r} is not configured (configured: {known})"
            raise ApiError(422, "unknown_channel", message, field)
        return ingest

    def place_orders(self, orders: Sequence[PlatformOrder]) -> list[OrderDecision]:
        """Orders grouped by channel and decided by its ingest; decisions back in request
        order. The orders were validated whole before (``serve_app.orders``): nothing here
        refuses a request after part of it was decided."""
        by_channel: dict[str, list[int]] = {}
        for position, order in enumerate(orders):
            by_channel.setdefault(order.channel, []).append(position)
        decided: list[OrderDecision | None] = [None] * len(orders)
        for channel, positions in by_channel.items():
            result = self.ingest_for(channel).decide([orders[p] for p in positions])
            for position, decision in zip(positions, result.orders, strict=True):
                decided[position] = decision
        return [d for d in decided if d is not None]

    def notice(self, notice: Payment | Cancellation) -> NoticeDecision:
        """An operator's payment or cancellation of every line of an order."""
        return self.ingest_for(notice.channel).decide([notice]).notices[0]

    def webhook(self, channel: str, body: bytes, headers: WebhookHeaders, now: float) -> IngestResult:
        """A platform's signed webhook batch received at ``now`` (unix seconds)."""
        return self.ingest_for(channel).ingest_signed(body, headers, now)

    def order_lines(self, channel: str, order_id: str) -> list[dict[str, Any]]:
        """The line records of an order, found through the channel's order index."""
        skus = self.ingest_for(channel).store.order_skus([order_id]).get(order_id, [])
        field = f"{channel}{FIELD_SEPARATOR}{order_id}"
        lines = []
        for sku in skus:
            record = self.redis.hget(self.store.lines_key(sku), field)
            if record is not None:
                decoded = decode_record(text(record))
                lines.append({"sku": sku, **decoded._asdict()})
        return lines

    # ---- alerts -------------------------------------------------------------------------

    def alerts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = ray.get(self.forecaster.alerts.remote())
        return result

    def history(self, after: str, count: int) -> list[tuple[str, dict[str, Any]]]:
        result: list[tuple[str, dict[str, Any]]] = ray.get(self.forecaster.history.remote(after, count))
        return result

    def acknowledge(self, alert_id: str, who: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = ray.get(self.forecaster.acknowledge.remote(alert_id, who))
        return result

    def silence(self, sku: str, level: str, minutes: float, who: str, comment: str) -> Silence:
        silence = Silence(
            f"silence-{uuid.uuid4().hex[:10]}", sku, level, time.time() + minutes * 60, who, comment
        )
        ray.get(self.forecaster.silence.remote(silence))
        return silence

    def subscriptions(self) -> list[Subscription]:
        return [
            Subscription(**{**json.loads(raw), "secret": b""})
            for raw in self.redis.hvals(keys.subscriptions(self.config.namespace))
        ]

    def subscribe(self, url: str, secret: str, levels: Sequence[str], who: str) -> Subscription:
        sub = Subscription(f"sub-{uuid.uuid4().hex[:10]}", url, secret.encode(), tuple(levels), who)
        ray.get(self.forecaster.subscribe.remote(sub))
        return sub

    def unsubscribe(self, subscription_id: str) -> bool:
        removed: bool = ray.get(self.forecaster.unsubscribe.remote(subscription_id))
        return removed

    def hints(self, skus: Sequence[str]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = ray.get(self.forecaster.hints.remote(list(skus)))
        return result

    # ---- ops ----------------------------------------------------------------------------

    def ready(self) -> dict[str, Any]:
        checks: dict[str, Any] = {"redis": bool(self.redis.ping())}
        health = ray.get([owner.health.remote() for owner in self.client.owners], timeout=5)
        checks["owners"] = [{"index": h["index"], "skus": h["skus"], "commits": h["commits"]} for h in health]
        checks["forecaster"] = ray.get(self.forecaster.stats.remote(), timeout=5)
        checks["redis_durability"] = self.args.redis_durability or "durable"
        return checks

    def metrics(self) -> dict[str, Any]:
        stats = ray.get([owner.commit_stats.remote() for owner in self.client.owners], timeout=5)
        ingest = {channel: ingest.store.counters() for channel, ingest in self.ingest.items()}
        lag = {channel: ingest.store.inbox_length() for channel, ingest in self.ingest.items()}
        return {
            "owners": stats,
            "ingest": ingest,
            "inbox_length": lag,
            "forecaster": ray.get(self.forecaster.stats.remote(), timeout=5),
            "alerts": ray.get(self.forecaster.alerts.remote(), timeout=5),
            "grant_headroom": self.grant_headroom(),
        }

    def grant_headroom(self) -> dict[str, int]:
        """Per SKU, what the sync last saved of ``on_hand - reserved - sold - held by
        platforms`` (the grant invariant: never negative; ``actors.sync.grants``)."""
        raw = self.redis.hgetall(keys.grant_headroom(self.config.namespace)) or {}
        return {text(sku): int(text(units)) for sku, units in raw.items()}
