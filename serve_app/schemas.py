"""Request and response bodies of the HTTP API (pydantic: they are the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from policies.channels.fields import EARLIEST, LATEST
from policies.ledger import MAX_ID_LENGTH, MAX_LINE_QUANTITY

Id = Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[^\x00-\x1f\x7f]+$")
MAX_ORDERS_PER_REQUEST = 10_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SkuSpec(Strict):
    """Settings of a SKU; ``on_hand`` is the starting stock when the SKU is created."""

    name: str = Field("", max_length=200)
    on_hand: int = Field(0, ge=0, le=10_000_000)
    lead_time_minutes: float = Field(720.0, ge=0, le=60 * 24 * 60)
    purchase_limit: int | None = Field(None, ge=1, le=MAX_LINE_QUANTITY)
    reservation_ttl_seconds: float = Field(900.0, gt=0, le=7 * 24 * 3600)
    substitutes: list[str] = Field(default_factory=list, max_length=20)
    safety_floor: int = Field(0, ge=0, le=10_000_000)
    critical_floor: int = Field(0, ge=0, le=10_000_000)


class Inbound(BaseModel):
    transfer_id: str
    quantity: int
    arrives_at: float
    source: str


class SkuView(BaseModel):
    sku: str
    name: str
    on_hand: int
    reserved: int
    sold: int
    available: int
    inbound: list[Inbound]
    inbound_units: int
    velocity_per_min: float | None = None
    acceleration: float | None = None
    eta_minutes: float | None = None
    sellable_orders: int | None = None
    oversold: dict[str, int] = Field(default_factory=dict)
    alert_level: str | None = None
    alerts: list[dict[str, Any]] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)


class SkuPage(BaseModel):
    items: list[SkuView]
    total: int
    offset: int
    limit: int


class RestockRequest(Strict):
    quantity: int = Field(ge=1, le=10_000_000)
    transfer_id: str = Id
    source: str = Field("", max_length=200)
    arrives_at: float | None = Field(None, description="epoch seconds; later = inbound transfer")


class AdjustRequest(Strict):
    delta: int = Field(ge=-10_000_000, le=10_000_000)
    adjustment_id: str = Id
    reason: str = Field(min_length=1, max_length=500)


class OperationResult(BaseModel):
    accepted: bool
    op: str
    sku: str
    key: str
    status: str
    quantity: int
    available: int
    reason: str
    detail: str
    duplicate: bool


class LineIn(Strict):
    sku: str = Id
    quantity: int = Field(ge=1, le=MAX_LINE_QUANTITY)


class OrderIn(Strict):
    channel: str = Id
    order_id: str = Id
    buyer_id: str = Field("unknown", max_length=MAX_ID_LENGTH)
    placed_at: float = Field(
        ge=EARLIEST, le=LATEST, description="the platform's event time, epoch seconds (2015..2100)"
    )
    paid: bool = False
    lines: list[LineIn] = Field(min_length=1, max_length=100)


class OrdersRequest(Strict):
    orders: list[OrderIn] = Field(min_length=1, max_length=MAX_ORDERS_PER_REQUEST)


class LineOut(BaseModel):
    sku: str
    quantity: int
    accepted: bool
    status: str
    reason: str
    available: int


class OrderOut(BaseModel):
    channel: str
    order_id: str
    accepted: bool
    reason: str
    failed_sku: str
    duplicate: bool
    lines: list[LineOut]


class OrdersResponse(BaseModel):
    decisions: list[OrderOut]


class WebhookResponse(BaseModel):
    decisions: list[OrderOut]
    notices: list[dict[str, Any]]
    dead_lettered: list[dict[str, str]]
    ignored: int


class NoticeOut(BaseModel):
    kind: str
    order_id: str
    accepted: bool
    reason: str


class OrderLines(BaseModel):
    channel: str
    order_id: str
    lines: list[dict[str, Any]]


class AckRequest(Strict):
    comment: str = Field("", max_length=500)


class SilenceRequest(Strict):
    sku: str = Field("*", min_length=1, max_length=MAX_ID_LENGTH)
    level: str = Field("*", pattern=r"^(\*|TREND|THRESHOLD|EMERGENCY|CHANNEL_STALLED)$")
    minutes: float = Field(gt=0, le=7 * 24 * 60)
    comment: str = Field("", max_length=500)


class SubscriptionRequest(Strict):
    url: str = Field(min_length=1, max_length=2048)
    secret: str = Field(min_length=16, max_length=200)
    levels: list[str] = Field(default_factory=list)


class SubscriptionOut(BaseModel):
    id: str
    url: str
    levels: list[str]
    created_by: str


class HintOut(BaseModel):
    sku: str
    sellable_orders: int
    host_line: str
    chat_hint: str
    substitute: str | None


class ErrorBody(BaseModel):
    """Every 4xx / 5xx answer."""

    code: str
    message: str
    field: str | None = None


#: the error answers every route may give, documented once for the OpenAPI schema
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 422, 503)
}
