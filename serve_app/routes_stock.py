"""SKU and order routes: thin, each a call into the Backend."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from actors.ingest.core import WebhookRejected, WebhookUndecodable
from policies.channels.signing import WebhookHeaders
from policies.ledger import Decision, Ledger, Reason, SkuSettings
from policies.operations import invalid_settings
from policies.orders import OrderDecision
from policies.stock_history import MINUTE
from serve_app.auth import Principal
from serve_app.backend import Backend
from serve_app.deps import backend, require
from serve_app.errors import ApiError
from serve_app.openapi import json_body
from serve_app.orders import InvalidOrder, order_notice
from serve_app.orders_json import decode_orders, encode_decisions, order_json
from serve_app.schemas import (
    ERROR_RESPONSES,
    AdjustRequest,
    AlertMarker,
    HistoryPoint,
    Ident,
    Inbound,
    NoticeOut,
    OperationResult,
    OrderLines,
    OrderOut,
    OrdersRequest,
    OrdersResponse,
    RestockRequest,
    SkuHistoryOut,
    SkuPage,
    SkuSpec,
    SkuView,
    WebhookResponse,
)

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
#: the longest window of a SKU's history (a day of shows)
MAX_HISTORY_MINUTES = 24 * 60
BackendDep = Annotated[Backend, Depends(backend)]


def operation_result(decision: Decision) -> OperationResult:
    return OperationResult(**decision._asdict())


def sku_view(
    ledger: Ledger,
    settings: SkuSettings | None,
    view: dict[str, Any] | None,
    oversold: dict[str, int],
    visible: dict[str, int] | None = None,
) -> SkuView:
    view = view or {}
    alerts = view.get("alerts", [])
    levels = {a["level"] for a in alerts}
    return SkuView(
        sku=ledger.sku,
        name=settings.name if settings else "",
        on_hand=ledger.on_hand,
        reserved=ledger.reserved,
        sold=ledger.sold,
        available=ledger.available,
        held=ledger.held,
        free=ledger.free,
        inbound=[Inbound(**asdict(t)) for t in ledger.inbound],
        inbound_units=ledger.inbound_units,
        velocity_per_min=view.get("velocity_per_min"),
        acceleration=view.get("acceleration"),
        eta_minutes=view.get("eta_minutes"),
        sellable_orders=view.get("sellable_orders"),
        oversold=oversold,
        visible=visible or {},
        alert_level=next((lvl for lvl in ("EMERGENCY", "THRESHOLD", "TREND") if lvl in levels), None),
        alerts=alerts,
        settings={k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}
        if settings
        else {},
    )


def order_out(decision: OrderDecision) -> OrderOut:
    return OrderOut.model_validate(order_json(decision))


@router.put("/skus/{sku}", response_model=OperationResult, tags=["skus"])
def put_sku(
    sku: Ident, spec: SkuSpec, b: BackendDep, _: Annotated[Principal, Depends(require("admin"))]
) -> OperationResult:
    """Create a SKU (with ``on_hand`` units) or update its settings."""
    settings = SkuSettings(
        sku,
        spec.name,
        spec.lead_time_minutes,
        spec.purchase_limit,
        spec.reservation_ttl_seconds,
        tuple(spec.substitutes),
        spec.safety_floor,
        spec.critical_floor,
        spec.on_sale_since,
        spec.on_sale_until,
    )
    problem = invalid_settings(settings)
    if problem:
        raise ApiError(422, "validation_error", problem, "sku")
    return operation_result(b.define(settings, spec.on_hand))


@router.delete("/skus/{sku}", status_code=204, tags=["skus"])
def delete_sku(sku: Ident, b: BackendDep, _: Annotated[Principal, Depends(require("admin"))]) -> None:
    """Take a SKU out of the live catalogue (its state, settings and oversold counts; its
    ledger log keeps its history and notes the removal; its order line records stay for
    the retention window). Refused with 409
    ``sku_in_use`` while units are reserved for open orders or an inbound transfer has
    not arrived: confirm or cancel the orders (or let them expire) first."""
    decision = b.remove_sku(sku)
    if decision.reason == Reason.UNKNOWN_SKU:
        raise ApiError(404, "unknown_sku", decision.detail)
    if not decision.accepted:
        raise ApiError(409, "sku_in_use", decision.detail)


@router.get("/skus/{sku}", response_model=SkuView, tags=["skus"])
async def get_sku(sku: Ident, b: BackendDep, _: Annotated[Principal, Depends(require("viewer"))]) -> SkuView:
    """The ledger, velocity, acceleration, ETA, sellable count and open alerts of a SKU."""
    state, visible, view = await b.sku_state(sku)
    if state is None:
        raise ApiError(404, "unknown_sku", f"sku {sku!r} is not in the catalogue")
    ledger, settings, oversold = state
    return sku_view(ledger, settings, view, oversold, visible)


@router.get("/skus/{sku}/history", response_model=SkuHistoryOut, tags=["skus"])
def sku_history(
    sku: Ident,
    b: BackendDep,
    _: Annotated[Principal, Depends(require("viewer"))],
    minutes: Annotated[int, Query(ge=1, le=MAX_HISTORY_MINUTES, description="the window, up to now")] = 360,
) -> SkuHistoryOut:
    """The SKU's show so far, one point per minute (counters at the minute's end and the
    units ordered in it, from the ledger stream; quiet minutes carry the last counters),
    and its alert notifications as markers. Reads at most 50,000 ledger entries and
    10,000 notifications: ``complete`` is false when that limit cut the window short."""
    if not b.known(sku):
        raise ApiError(404, "unknown_sku", f"sku {sku!r} is not in the catalogue")
    until = time.time()
    since = until - minutes * MINUTE
    history = b.sku_history(sku, since, until)
    return SkuHistoryOut(
        sku=sku,
        since=since,
        until=until,
        step_seconds=MINUTE,
        points=[HistoryPoint(**p._asdict()) for p in history.points],
        markers=[AlertMarker(**m) for m in history.markers],
        complete=history.complete,
    )


@router.get("/skus", response_model=SkuPage, tags=["skus"])
def list_skus(
    b: BackendDep,
    _: Annotated[Principal, Depends(require("viewer"))],
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    low_stock: Annotated[int | None, Query(ge=0, description="available at or below")] = None,
    alerting: Annotated[bool, Query(description="only SKUs with a firing alert")] = False,
) -> SkuPage:
    """SKUs in id order, with filters; a page of ``limit`` from ``offset``."""
    skus = b.all_skus()
    ledgers = b.ledgers(skus)
    views = b.views(skus)
    chosen = [
        s
        for s in skus
        if s in ledgers
        and (low_stock is None or ledgers[s].available <= low_stock)
        and (not alerting or views.get(s, {}).get("alerts"))
    ]
    page = chosen[offset : offset + limit]
    settings, oversold, visible = b.settings(page), b.oversold(page), b.visible(page)
    return SkuPage(
        items=[
            sku_view(ledgers[s], settings.get(s), views.get(s), oversold.get(s, {}), visible.get(s))
            for s in page
        ],
        total=len(chosen),
        offset=offset,
        limit=limit,
    )


@router.post("/skus/{sku}/restock", response_model=OperationResult, tags=["skus"])
def restock(
    sku: Ident, body: RestockRequest, b: BackendDep, _: Annotated[Principal, Depends(require("operator"))]
) -> OperationResult:
    """Add units now, or as an inbound transfer arriving at ``arrives_at``."""
    decision = b.restock(sku, body.quantity, body.transfer_id, body.source, body.arrives_at)
    if decision.reason == "unknown_sku":
        raise ApiError(404, "unknown_sku", decision.detail)
    if decision.reason == "id_conflict":
        raise ApiError(409, "id_conflict", decision.detail, "transfer_id")
    return operation_result(decision)


@router.post("/skus/{sku}/adjust", response_model=OperationResult, tags=["skus"])
def adjust(
    sku: Ident, body: AdjustRequest, b: BackendDep, who: Annotated[Principal, Depends(require("operator"))]
) -> OperationResult:
    """An audited stock-count correction; refused if it would leave fewer units than promised."""
    decision = b.adjust(sku, body.delta, body.adjustment_id, body.reason, who.name)
    if decision.reason == "unknown_sku":
        raise ApiError(404, "unknown_sku", decision.detail)
    if decision.reason == "would_oversell":
        raise ApiError(409, "would_oversell", decision.detail)
    if decision.reason == "id_conflict":
        raise ApiError(409, "id_conflict", decision.detail, "adjustment_id")
    return operation_result(decision)


@router.post(
    "/orders", response_model=OrdersResponse, tags=["orders"], openapi_extra=json_body(OrdersRequest)
)
async def place_orders(
    request: Request, b: BackendDep, who: Annotated[Principal, Depends(require("ingest"))]
) -> Response:
    """A batch of up to 10,000 orders in the internal format; decisions in order. The
    whole request is validated before any order is decided: one order that breaks a rule
    refuses the request (422, its field named) and nothing is deducted. A multi-line
    order is all-or-nothing; an order id sent again with other lines is refused
    (``order_conflict``)."""
    # the body is read here, not by FastAPI: pydantic would cost more than deciding the
    # orders; serve_app.orders_json decodes and answers it with msgspec, OrdersRequest
    # (above) documents it and explains a refusal
    body = await request.body()
    answer = await run_in_threadpool(_place_orders, body, request.headers.get("content-type"), b, who)
    return Response(answer, media_type="application/json")


def _place_orders(body: bytes, content_type: str | None, b: Backend, who: Principal) -> bytes:
    channels, orders = decode_orders(body, content_type)
    for position, channel in enumerate(channels):
        if not who.may_ingest(channel):
            raise ApiError(
                403, "forbidden", f"this token may not send orders for {channel}", "orders.channel"
            )
        b.ingest_for(channel, f"orders.{position}.channel")  # 422 before anything is decided
    if isinstance(orders, InvalidOrder):
        raise ApiError(422, "invalid_order", orders.message, orders.field)
    return encode_decisions(b.place_orders(orders))


@router.post("/channels/{channel}/orders", response_model=WebhookResponse, tags=["orders"])
async def platform_webhook(
    channel: Ident,
    request: Request,
    b: BackendDep,
    who: Annotated[Principal, Depends(require("ingest"))],
    webhook_id: Annotated[str | None, Header()] = None,
    webhook_timestamp: Annotated[str | None, Header(description="unix seconds")] = None,
    webhook_signature: Annotated[
        str | None, Header(description='v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">')
    ] = None,
) -> WebhookResponse:
    """A platform's native webhook batch, signed Standard Webhooks style (``webhook-id``,
    ``webhook-timestamp``, ``webhook-signature``): 401 ``bad_signature`` unless authentic,
    401 ``stale_signature`` when its timestamp is more than the tolerance (5 minutes) from
    the clock; then 400 ``invalid_body`` when the bytes are not JSON, 422
    ``invalid_batch`` when the JSON is not a batch."""
    if not who.may_ingest(channel):
        raise ApiError(403, "forbidden", f"this token may not send orders for {channel}")
    b.ingest_for(channel)
    body = await request.body()
    headers = WebhookHeaders(webhook_id, webhook_timestamp, webhook_signature)
    try:
        result = await run_in_threadpool(b.webhook, channel, body, headers, time.time())
    except WebhookRejected as error:
        raise ApiError(401, error.code, str(error)) from None
    except WebhookUndecodable as error:
        status, code = (422, "invalid_batch") if error.batch else (400, "invalid_body")
        raise ApiError(status, code, str(error), "body") from None
    return WebhookResponse(
        decisions=[order_out(d) for d in result.orders],
        notices=[n._asdict() | {"lines": [d._asdict() for d in n.lines]} for n in result.notices],
        dead_lettered=[{"reason": d.reason, "order_id": d.order_id} for d in result.dead],
        ignored=result.ignored,
    )


# ``:path``: an order id may hold "/" (sent as %2F, which the server decodes before routing)
@router.post("/orders/{channel}/{order_id:path}/{action}", response_model=NoticeOut, tags=["orders"])
def confirm_or_cancel(
    channel: Ident,
    order_id: Ident,
    action: str,
    b: BackendDep,
    who: Annotated[Principal, Depends(require("ingest"))],
) -> NoticeOut:
    """``confirm`` (paid) or ``cancel`` every line of an order."""
    if action not in ("confirm", "cancel"):
        raise ApiError(404, "not_found", "action must be confirm or cancel")
    if not who.may_ingest(channel):
        raise ApiError(403, "forbidden", f"this token may not act on {channel} orders")
    b.ingest_for(channel)
    message = order_notice(channel, order_id, action, time.time())
    notice = b.notice(message) if message is not None else None
    if notice is None or notice.reason == "unknown_order":
        raise ApiError(404, "unknown_order", f"no accepted order {order_id!r} on {channel}")
    return NoticeOut(
        kind=notice.kind, order_id=notice.order_id, accepted=notice.accepted, reason=notice.reason
    )


# ``:path``: as above, so an order whose id holds "/" can be looked up
@router.get("/orders/{channel}/{order_id:path}", response_model=OrderLines, tags=["orders"])
def get_order(
    channel: Ident, order_id: Ident, b: BackendDep, _: Annotated[Principal, Depends(require("viewer"))]
) -> OrderLines:
    """Where each line of an accepted order stands."""
    b.ingest_for(channel)
    lines = b.order_lines(channel, order_id)
    if not lines:
        raise ApiError(404, "unknown_order", f"no accepted order {order_id!r} on {channel}")
    return OrderLines(channel=channel, order_id=order_id, lines=lines)
