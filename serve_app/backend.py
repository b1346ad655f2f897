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
from pydantic import BaseModel, Field, model_validator

from actors.infra import keys
from actors.infra.codec import decode_silence, decode_subscription, text
from actors.infra.directory import forecaster_handle, forecaster_name, owner_handles
from actors.infra.redis_client import connect
from actors.infra.settings import (
    DEFAULT_NAMESPACE,
    DEFAULT_SHARD_COUNT,
    StoreConfig,
    current_settings,
    retention_problem,
)
from actors.ingest.core import ChannelIngest, IngestResult
from actors.ingest.store import RedisIngestStore
from actors.owner.client import StockClient
from actors.owner.reads import (
    find_retained_lines,
    missing_skus,
    read_oversold,
    read_sku_states,
    sku_names,
)
from policies.channel_modes import channel_modes
from policies.channels import Cancellation, Payment, PlatformOrder
from policies.channels.signing import DEFAULT_TOLERANCE_SECONDS, WebhookHeaders
from policies.ledger import Decision, Ledger, SkuSettings
from policies.operations import FIELD_SEPARATOR, Adjust, DefineSku, Operation, Restock
from policies.orders import NoticeDecision, OrderDecision
from policies.silences import Silence, active_silences
from policies.subscriptions import Subscription
from serve_app.errors import ApiError
from serve_app.guards.checks import FrontDoorArgs
from serve_app.secrets import webhook_secret
from serve_app.sku_history import SkuHistory, read_sku_history
from serve_app.view_cache import ViewCache


class AppArgs(BaseModel):
    """How the HTTP app finds its deployment (the Serve config's ``args``)."""

    #: the Redis every node reaches; default ``REDIS_URL`` of the process that builds the
    #: app, so a password need not be written in a Serve config (Ray shows its args)
    redis_url: str = Field(default_factory=lambda: current_settings().redis_url or "")
    namespace: str = DEFAULT_NAMESPACE
    shard_count: int = DEFAULT_SHARD_COUNT
    #: the line history's window and bucket span (seconds), as the owners were started
    #: with: ``GET /v1/orders`` looks in the buckets they name. Default the settings of the
    #: process that builds the app (``FLASHSTOCK_RETENTION_SECONDS`` / ``_BUCKET_SECONDS``)
    retention_seconds: float = Field(default_factory=lambda: current_settings().retention_seconds)
    bucket_seconds: int = Field(default_factory=lambda: current_settings().bucket_seconds)
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
    #: the most seconds a request waits for an actor (a SKU owner, the forecaster); past
    #: it the answer is 503 ``unavailable``, so a hung actor holds no request slot for ever
    call_timeout_seconds: float = Field(default=20.0, gt=0, allow_inf_nan=False)
    #: how far (seconds) a signed webhook's ``webhook-timestamp`` may be from the clock
    webhook_tolerance_seconds: float = Field(default=DEFAULT_TOLERANCE_SECONDS, gt=0)
    #: the front door's limits: allowed hosts and origins, body timeout, stream caps,
    #: requests and body bytes in flight (each body budget at least ``max_body_bytes``)
    front_door: FrontDoorArgs = Field(default_factory=FrontDoorArgs)
    #: what the service said at start about Redis persistence (``--allow-volatile-redis``,
    #: ``appendfsync everysec``); None when every acknowledged decision is fsynced
    redis_durability: str | None = None
    #: each replica starts (or finds) the whole actor system as detached actors before it
    #: answers (``actors.bootstrap``): how ``serve run``/``serve deploy``/a KubeRay
    #: RayService bring up a deployment. ``flashstock serve`` starts the system itself.
    bootstrap: bool = False
    #: with ``bootstrap``: start even on a Redis without the append-only file
    allow_volatile_redis: bool = False

    @property
    def store(self) -> StoreConfig:
        return StoreConfig(
            self.redis_url,
            self.namespace,
            self.shard_count,
            retention_seconds=self.retention_seconds,
            bucket_seconds=self.bucket_seconds,
        )

    @model_validator(mode="after")
    def _usable_retention(self) -> AppArgs:
        problem = retention_problem(self.retention_seconds, self.bucket_seconds)
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _room_for_a_whole_body(self) -> AppArgs:
        for name in ("max_order_body_bytes_in_flight", "max_body_bytes_in_flight"):
            if getattr(self.front_door, name) < self.max_body_bytes:
                budget = f"front_door.{name} ({getattr(self.front_door, name)})"
                raise ValueError(f"{budget} is below max_body_bytes ({self.max_body_bytes})")
        return self

    @model_validator(mode="after")
    def _redis_named(self) -> AppArgs:
        if not self.redis_url:
            raise ValueError("redis_url is not set: give it in the Serve config's args or set REDIS_URL")
        return self

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
        self.client = StockClient(
            self.config, owner_handles(self.config), call_timeout=args.call_timeout_seconds
        )
        forecaster = forecaster_handle(self.config)
        if forecaster is None:
            raise ValueError(f"the forecaster {forecaster_name(self.config)!r} is not running")
        self.forecaster: Any = forecaster
        self.redis = connect(args.redis_url, socket_timeout=10.0)
        self.views_cache = ViewCache(self._fetch_views)
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

    def _wait(self, ref: Any) -> Any:
        """The result of an actor call, waited for at most ``call_timeout_seconds``
        (``ray.exceptions.GetTimeoutError``: the routes answer 503 ``unavailable``)."""
        return ray.get(ref, timeout=self.args.call_timeout_seconds)

    # ---- SKUs ---------------------------------------------------------------------------

    def define(self, settings: SkuSettings, on_hand: int) -> Decision:
        """Define a SKU through its owner; the owner's feed tells the forecaster the
        settings it committed (with the time the SKU went on sale)."""
        return self.client.submit([DefineSku(settings, on_hand)])[0]

    def apply(self, op: Operation) -> Decision:
        return self.client.submit([op])[0]

    def restock(
        self, sku: str, quantity: int, transfer_id: str, source: str, arrives_at: float | None
    ) -> Decision:
        return self.apply(Restock(sku, quantity, transfer_id, source, arrives_at))

    def adjust(self, sku: str, delta: int, adjustment_id: str, reason: str, actor: str) -> Decision:
        return self.apply(Adjust(sku, delta, adjustment_id, reason, actor))

    def remove_sku(self, sku: str) -> Decision:
        """Take ``sku`` out of the live catalogue (refused while anything is promised on it);
        once it is gone, its open alerts resolve and the forecaster forgets it."""
        decision = self.client.remove_sku(sku)
        if decision.accepted:
            self._wait(self.forecaster.forget_skus.remote([sku]))
            self.views_cache.forget(sku)
        return decision

    def all_skus(self) -> list[str]:
        return sku_names(self.redis, self.config)

    def ledgers(self, skus: Sequence[str]) -> dict[str, Ledger]:
        return self.client.ledgers(skus)

    def settings(self, skus: Sequence[str]) -> dict[str, SkuSettings]:
        return self.client.settings(skus)

    def views(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        views: list[dict[str, Any]] = self._wait(self.forecaster.views.remote(list(skus)))
        return {view["sku"]: view for view in views}

    def oversold(self, skus: Sequence[str]) -> dict[str, dict[str, int]]:
        return self.client.oversold(skus)

    def visible(self, skus: Sequence[str]) -> dict[str, dict[str, int]]:
        """Units each configured channel's platform may show, per SKU (``sku -> channel ->
        units``, as the channel sync published them; SKUs it has not published are absent)."""
        if not skus:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        channels = sorted(self.args.channels)
        for channel in channels:
            pipe.hmget(keys.visible(self.config.namespace, channel), list(skus))
        found: dict[str, dict[str, int]] = {}
        for channel, values in zip(channels, pipe.execute(), strict=True):
            for sku, value in zip(skus, values, strict=True):
                if value is not None:
                    found.setdefault(sku, {})[channel] = int(text(value))
        return found

    async def sku_state(
        self, sku: str
    ) -> tuple[
        tuple[Ledger, SkuSettings | None, dict[str, int]] | None, dict[str, int] | None, dict[str, Any] | None
    ]:
        """(ledger, settings, oversold) of one SKU and its channels' visible units, read
        from Redis in one worker thread (the committed state, no owner is asked), and the
        forecaster's view from this replica's cache (at most 0.5 s old:
        ``serve_app.view_cache``), concurrently."""
        (state, visible), view = await asyncio.gather(
            asyncio.to_thread(self._read_sku, sku), self.views_cache.get(sku)
        )
        if state is None:  # not in the catalogue: not worth keeping fresh
            self.views_cache.forget(sku)
        return state, visible, view

    def _read_sku(
        self, sku: str
    ) -> tuple[tuple[Ledger, SkuSettings | None, dict[str, int]] | None, dict[str, int] | None]:
        # one thread for both reads: a hop to a worker thread costs about what a read does
        return read_sku_states(self.redis, self.config, [sku]).get(sku), self.visible([sku]).get(sku)

    async def _fetch_views(self, skus: Sequence[str]) -> list[dict[str, Any]]:
        views: list[dict[str, Any]] = await self.forecaster.views.remote(list(skus))
        return views

    def known(self, sku: str) -> bool:
        return not self.unknown([sku])

    def unknown(self, skus: Sequence[str]) -> list[str]:
        """Those of ``skus`` not in the catalogue, in their order."""
        return missing_skus(self.redis, self.config, skus)

    def sku_history(self, sku: str, start: float, end: float) -> SkuHistory:
        """``sku``'s minutes and alert markers from ``start`` to ``end`` (epoch seconds)."""
        return read_sku_history(self.redis, self.config, sku, start, end)

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
        found = find_retained_lines(self.redis, self.config, [(sku, field) for sku in skus], time.time())
        return [{"sku": sku, **found[(sku, field)]._asdict()} for sku in skus if (sku, field) in found]

    # ---- alerts -------------------------------------------------------------------------

    def alerts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._wait(self.forecaster.alerts.remote())
        return result

    def history(self, after: str, count: int) -> list[tuple[str, dict[str, Any]]]:
        result: list[tuple[str, dict[str, Any]]] = self._wait(self.forecaster.history.remote(after, count))
        return result

    def acknowledge(self, alert_id: str, who: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._wait(self.forecaster.acknowledge.remote(alert_id, who))
        return result

    def silence(self, sku: str, level: str, channel: str, minutes: float, who: str, comment: str) -> Silence:
        now = time.time()
        silence = Silence(
            f"silence-{uuid.uuid4().hex[:10]}", sku, level, now + minutes * 60, who, comment, channel, now
        )
        self._wait(self.forecaster.silence.remote(silence))
        return silence

    def silences(self) -> list[Silence]:
        """The silences still muting, ending soonest first (read from Redis)."""
        stored = [decode_silence(raw) for raw in self.redis.hvals(keys.silences(self.config.namespace))]
        return active_silences(stored, time.time())

    def unsilence(self, silence_id: str, who: str) -> bool:
        """Lift a silence early; False when there is none by that id."""
        lifted: bool = self._wait(self.forecaster.unsilence.remote(silence_id, who))
        return lifted

    def subscriptions(self) -> list[Subscription]:
        """The stored subscriptions, secrets left out."""
        return [
            decode_subscription(raw)._replace(secret=b"")
            for raw in self.redis.hvals(keys.subscriptions(self.config.namespace))
        ]

    def dead_letters(self, subscription_id: str, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` dead letters of a subscription, oldest first."""
        key = keys.webhook_dead(self.config.namespace, subscription_id)
        return [json.loads(text(raw)) for raw in self.redis.lrange(key, -limit, -1)]

    def subscribe(self, subscription: Subscription) -> None:
        self._wait(self.forecaster.subscribe.remote(subscription))

    def unsubscribe(self, subscription_id: str) -> bool:
        removed: bool = self._wait(self.forecaster.unsubscribe.remote(subscription_id))
        return removed

    def hints(self, skus: Sequence[str]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._wait(self.forecaster.hints.remote(list(skus)))
        return result

    # ---- ops ----------------------------------------------------------------------------

    def ready(self) -> dict[str, Any]:
        checks: dict[str, Any] = {"redis": bool(self.redis.ping())}
        health = ray.get([owner.health.remote() for owner in self.client.owners], timeout=5)
        checks["owners"] = [
            {"index": h["index"], "node": h["node"], "skus": h["skus"], "commits": h["commits"]}
            for h in health
        ]
        checks["forecaster"] = ray.get(self.forecaster.stats.remote(), timeout=5)
        checks["redis_durability"] = self.args.redis_durability or "durable"
        return checks

    def metrics(self) -> dict[str, Any]:
        """What ``/metrics`` shows, from Redis and the forecaster (no owner is asked: the
        cost does not grow with the number of owners, only with the catalogue)."""
        return {
            "ingest": {channel: ingest.store.counters() for channel, ingest in self.ingest.items()},
            "backlog": {channel: ingest.store.backlog() for channel, ingest in self.ingest.items()},
            "oversold": read_oversold(self.redis, self.config),
            "forecaster": ray.get(self.forecaster.stats.remote(), timeout=5),
            "alerts": ray.get(self.forecaster.alerts.remote(), timeout=5),
            "grant_headroom": self.grant_headroom(),
        }

    def grant_headroom(self) -> dict[str, int]:
        """Per SKU, what the sync last saved of ``on_hand - reserved - sold - held by
        platforms`` (the grant invariant: never negative; ``actors.sync.grants``)."""
        raw = self.redis.hgetall(keys.grant_headroom(self.config.namespace)) or {}
        return {text(sku): int(text(units)) for sku, units in raw.items()}
