"""Alerts (open, history, ack, silences, webhooks, the SSE stream), live-room hints and
operations routes."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Annotated, Any

import anyio
import redis.asyncio
import structlog
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from ray.exceptions import TaskCancelledError
from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Receive, Scope, Send

from actors.alerts.webhooks import shown, url_problem
from actors.infra import keys
from actors.infra.redis_client import connect_async
from policies.silences import Silence
from policies.subscriptions import Subscription, subscription_problem
from serve_app.auth import Principal
from serve_app.backend import Backend
from serve_app.deps import backend, require
from serve_app.errors import ApiError
from serve_app.guards.checks import HISTORY_CURSOR, valid_event_id
from serve_app.metrics import prometheus_text
from serve_app.schemas import (
    ERROR_RESPONSES,
    MAX_HINT_SKUS,
    SKU_LIST_PATTERN,
    AckRequest,
    DeadLetterOut,
    DeadLettersOut,
    HintOut,
    Ident,
    SilenceOut,
    SilenceRequest,
    SubscriptionOut,
    SubscriptionRequest,
    id_problem,
)

router = APIRouter(responses=ERROR_RESPONSES)
log = structlog.get_logger(__name__)
#: seconds between keep-alive comments on a quiet SSE stream
KEEP_ALIVE_SECONDS = 15.0
#: a filtered history read: entries read per call, and at most per request
HISTORY_PAGE = 1000
MAX_HISTORY_SCAN = 10_000
BackendDep = Annotated[Backend, Depends(backend)]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]


@router.get("/v1/alerts", tags=["alerts"])
def list_alerts(
    b: BackendDep,
    _: Viewer,
    state: Annotated[str, Query(pattern="^(open|history)$")] = "open",
    sku: Ident | None = None,
    level: Annotated[str | None, Query(pattern="^(TREND|THRESHOLD|EMERGENCY|CHANNEL_STALLED)$")] = None,
    after: Annotated[
        str, Query(pattern=HISTORY_CURSOR, description="history: stream id to start after")
    ] = "-",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Open alerts, or the notification history (oldest first) from the durable stream.
    History pages by ``after``: ``next_after`` is where the next page starts. With a
    ``sku`` or ``level`` filter the history is read on until ``limit`` entries match, the
    stream ends or ``MAX_HISTORY_SCAN`` entries were read; an empty page with a
    ``next_after`` past ``after`` means none matched so far, not none at all."""

    def keep(item: dict[str, Any]) -> bool:
        alert = item.get("alert", item)
        return (sku is None or alert["sku"] == sku) and (level is None or alert["level"] == level)

    if state == "open":
        return {"state": state, "items": [i for i in b.alerts() if keep(i)][:limit]}
    items: list[dict[str, Any]] = []
    cursor, scanned = after, 0
    page_size = limit if sku is None and level is None else HISTORY_PAGE
    while len(items) < limit and scanned < MAX_HISTORY_SCAN:
        page = b.history(cursor, page_size)
        for entry_id, record in page:
            cursor = entry_id
            item = {"event_id": entry_id, **record}
            if keep(item):
                items.append(item)
                if len(items) == limit:
                    break
        scanned += len(page)
        if len(page) < page_size:
            break  # the end of the stream
    return {"state": state, "items": items, "next_after": cursor}


@router.post("/v1/alerts/{alert_id}/ack", tags=["alerts"])
def acknowledge(alert_id: Ident, body: AckRequest, b: BackendDep, who: Operator) -> dict[str, Any]:
    """Record that an operator has seen the alert (who, when)."""
    alert = b.acknowledge(alert_id, who.name)
    if alert is None:
        raise ApiError(404, "unknown_alert", f"no open alert {alert_id!r}")
    return alert


def silence_out(silence: Silence) -> SilenceOut:
    return SilenceOut.model_validate(silence._asdict())


@router.post("/v1/silences", response_model=SilenceOut, tags=["alerts"])
def silence(body: SilenceRequest, b: BackendDep, who: Operator) -> SilenceOut:
    """Mute for ``minutes`` the notifications of the alerts every matcher selects: SKU
    pattern (``*`` any run of characters, ``?`` one), level and channel (``*`` any).
    Alerts keep their state; their notifications are stored and streamed marked
    ``silenced``, and webhooks do not get them."""
    if body.channel != "*":
        b.ingest_for(body.channel, "channel")  # 422 unknown_channel: a silence that can never match
    created = b.silence(body.sku, body.level, body.channel, body.minutes, who.name, body.comment)
    return silence_out(created)


@router.get("/v1/silences", response_model=list[SilenceOut], tags=["alerts"])
def list_silences(b: BackendDep, _: Operator) -> list[SilenceOut]:
    """The silences still muting, ending soonest first."""
    return [silence_out(s) for s in b.silences()]


@router.delete("/v1/silences/{silence_id}", status_code=204, tags=["alerts"])
def lift_silence(silence_id: Ident, b: BackendDep, who: Operator) -> None:
    """Expire a silence early: notifications it muted are sent again from now on."""
    if not b.unsilence(silence_id, who.name):
        raise ApiError(404, "unknown_silence", f"no active silence {silence_id!r}")


def subscription_out(sub: Subscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=sub.id,
        kind=sub.kind,
        url=shown(sub),
        levels=list(sub.levels),
        created_by=sub.created_by,
        group_wait_seconds=sub.group_wait,
        group_interval_seconds=sub.group_interval,
        repeat_interval_seconds=sub.repeat_interval,
    )


@router.get("/v1/subscriptions", response_model=list[SubscriptionOut], tags=["alerts"])
def list_subscriptions(b: BackendDep, _: Operator) -> list[SubscriptionOut]:
    return [subscription_out(s) for s in b.subscriptions()]


@router.post("/v1/subscriptions", response_model=SubscriptionOut, status_code=201, tags=["alerts"])
def subscribe(body: SubscriptionRequest, b: BackendDep, who: Operator) -> SubscriptionOut:
    """A receiver of alert notifications, grouped per show and sent in its kind's format
    (flashstock's signed webhook, Alertmanager, DingTalk, WeCom or Feishu robots)."""
    timing = (body.group_wait_seconds, body.group_interval_seconds, body.repeat_interval_seconds)
    refused = subscription_problem(body.kind, body.url, body.secret, body.levels, timing)
    if refused is not None:
        field, message = refused
        raise ApiError(422, "invalid_subscription", message, field)
    problem = url_problem(body.url)
    if problem:
        raise ApiError(422, "invalid_url", problem, "url")
    sub = Subscription(
        f"sub-{uuid.uuid4().hex[:10]}",
        body.url,
        body.secret.encode(),
        tuple(body.levels),
        who.name,
        body.kind,
        *timing,
    )
    b.subscribe(sub)
    return subscription_out(sub)


@router.get(
    "/v1/subscriptions/{subscription_id}/dead-letters", response_model=DeadLettersOut, tags=["alerts"]
)
def dead_letters(
    subscription_id: Ident,
    b: BackendDep,
    _: Operator,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeadLettersOut:
    """The digests this receiver never took (attempts ran out, refused, or its queue was
    full), newest ``limit``, oldest first; kept after the subscription is deleted."""
    letters = b.dead_letters(subscription_id, limit)
    if not letters and subscription_id not in {s.id for s in b.subscriptions()}:
        raise ApiError(404, "unknown_subscription", f"no subscription {subscription_id!r}")
    return DeadLettersOut(
        subscription=subscription_id, items=[DeadLetterOut.model_validate(letter) for letter in letters]
    )


@router.delete("/v1/subscriptions/{subscription_id}", status_code=204, tags=["alerts"])
def unsubscribe(subscription_id: Ident, b: BackendDep, _: Operator) -> None:
    if not b.unsubscribe(subscription_id):
        raise ApiError(404, "unknown_subscription", f"no subscription {subscription_id!r}")


class EventStreamResponse(StreamingResponse):
    """A streaming response whose client leaving is not an error. When a client
    disconnects, Ray Serve's proxy cancels the request, and the replica's ``receive``
    then raises ``TaskCancelledError`` in Starlette's disconnect listener instead of
    returning ``http.disconnect``: read as the disconnect it stands for, it ends the
    stream quietly (one debug line) instead of failing the request with a traceback."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_or_disconnect() -> Message:
            try:
                return await receive()
            except TaskCancelledError:
                log.debug("alert_stream_closed", reason="client_left")
                return {"type": "http.disconnect"}

        await super().__call__(scope, receive_or_disconnect, send)


@router.get("/v1/alerts/stream", tags=["alerts"], response_class=EventStreamResponse)
async def alert_stream(
    request: Request,
    b: BackendDep,
    _: Viewer,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[str | None, Query(description="like Last-Event-ID")] = None,
) -> StreamingResponse:
    """Server-Sent Events: every alert notification, from the durable stream. Reconnect
    with ``Last-Event-ID`` (or ``?after=``) to receive what was missed; without it the
    stream starts with what arrives from now on."""
    for name, value in (("Last-Event-ID", last_event_id), ("after", after)):
        if value is not None and not valid_event_id(value):
            raise ApiError(422, "validation_error", f"{name} must be a stream id like 1700000000000-0", name)
    start = last_event_id or after or "$"
    stream = keys.alert_stream(b.config.namespace)
    client = connect_async(b.args.redis_url)

    async def events() -> AsyncIterator[str]:
        cursor = start
        try:
            if cursor == "$":
                newest: Any = await client.xrevrange(stream, count=1)  # [(id, fields)]
                cursor = newest[0][0].decode() if newest else "0-0"
            yield "retry: 2000\n\n"
            quiet_since = time.monotonic()
            while not await request.is_disconnected():
                replies: Any = await client.xread({stream: cursor}, block=1000, count=100)
                if replies:
                    for cursor, alert in alert_entries(replies[0][1]):
                        yield f"id: {cursor}\nevent: alert\ndata: {alert}\n\n"
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= KEEP_ALIVE_SECONDS:
                    yield ": keep-alive\n\n"
                    quiet_since = time.monotonic()
        except anyio.get_cancelled_exc_class():
            # the client left: the request is cancelled; close quietly, let it unwind
            log.debug("alert_stream_closed", reason="client_left")
            raise
        except (OSError, redis.RedisError) as error:
            log.warning("alert_stream_closed", reason="redis_unreachable", error=str(error))
        finally:
            with anyio.CancelScope(shield=True):
                await client.aclose()

    return EventStreamResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def hint_skus(skus: str) -> list[str]:
    """The SKU ids of a ``skus`` query (comma-separated, as ``SKU_LIST_PATTERN`` states);
    422 ``validation_error`` (field ``skus``) for an id the API's id rule refuses (an empty
    one too) or more than ``MAX_HINT_SKUS`` of them, rather than asking about, or silently
    dropping, any."""
    wanted = skus.split(",")
    if len(wanted) > MAX_HINT_SKUS:
        raise ApiError(422, "validation_error", f"at most {MAX_HINT_SKUS} SKUs, got {len(wanted)}", "skus")
    for sku in wanted:
        problem = id_problem(sku)
        if problem is not None:
            raise ApiError(422, "validation_error", f"sku {sku!r}: id {problem}", "skus")
    return wanted


@router.get("/v1/live/hints", response_model=list[HintOut], tags=["live room"])
def live_hints(
    b: BackendDep,
    _: Viewer,
    skus: Annotated[
        str,
        Query(
            description=f"comma-separated SKU ids, at most {MAX_HINT_SKUS}",
            json_schema_extra={"pattern": SKU_LIST_PATTERN},
        ),
    ],
) -> list[HintOut]:
    """What the host says (锁单: how many more orders) and the chat hint per SKU; 404
    ``unknown_sku`` for a SKU not in the catalogue (a typo must not read as sold out)."""
    wanted = hint_skus(skus)
    unknown = b.unknown(wanted)
    if unknown:
        raise ApiError(404, "unknown_sku", f"sku {unknown[0]!r} is not in the catalogue", "skus")
    return [HintOut(**hint) for hint in b.hints(wanted)]


@router.get("/healthz", tags=["ops"])
def healthz() -> dict[str, str]:
    """Liveness: the HTTP process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"])
async def readyz(b: BackendDep) -> dict[str, Any]:
    """Readiness: Redis answers and every owner and the forecaster respond."""
    try:
        checks = await run_in_threadpool(b.ready)
    except Exception as error:
        raise ApiError(503, "unavailable", f"not ready: {error}") from None
    return {"status": "ready", **checks}


@router.get("/metrics", response_class=PlainTextResponse, tags=["ops"])
def metrics(b: BackendDep) -> str:
    """Prometheus text format."""
    return prometheus_text(b.metrics())


def alert_entries(entries: Iterable[tuple[bytes, Mapping[bytes, bytes]]]) -> list[tuple[str, str]]:
    """``(entry id, notification JSON)`` of entries read from the alert stream."""
    return [(entry_id.decode(), fields[b"alert"].decode()) for entry_id, fields in entries]
