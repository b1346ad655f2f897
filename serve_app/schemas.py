"""Request and response bodies of the HTTP API (pydantic: they are the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from policies.channels.fields import EARLIEST, LATEST
from policies.ids import NOT_IN_IDS, bad_id_character
from policies.ledger import MAX_ID_LENGTH, MAX_LINE_QUANTITY
from policies.subscriptions import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    MAX_TIMING_SECONDS,
)

MAX_ORDERS_PER_REQUEST = 10_000
#: an id: 1..MAX_ID_LENGTH allowed characters, the ASCII space only inside, not only dots
ID_PATTERN = rf"^(?!\.+$)[^{NOT_IN_IDS} ](?:[^{NOT_IN_IDS}]{{0,{MAX_ID_LENGTH - 2}}}[^{NOT_IN_IDS} ])?$"
#: the most SKUs one live-room hints request names
MAX_HINT_SKUS = 200
#: ``skus`` of ``GET /v1/live/hints``: 1..MAX_HINT_SKUS ids (as ``ID_PATTERN``, without a
#: comma) joined by commas
_LISTED_ID = (
    rf"(?!\.+(?:,|$))[^{NOT_IN_IDS} ,](?:[^{NOT_IN_IDS},]{{0,{MAX_ID_LENGTH - 2}}}[^{NOT_IN_IDS} ,])?"
)
SKU_LIST_PATTERN = rf"^{_LISTED_ID}(?:,{_LISTED_ID}){{0,{MAX_HINT_SKUS - 1}}}$"


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an id (a SKU, order, channel, buyer, transfer, adjustment,
    silence or alert id), or None: 1..MAX_ID_LENGTH characters, no control, format,
    surrogate, private-use or replacement character, no space but the ASCII one and that
    only inside, not only dots (``ID_PATTERN`` says the same)."""
    if not value:
        return "must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters"
    if value != value.strip(" "):
        return "must not start or end with whitespace"
    bad = bad_id_character(value)
    if bad is not None:
        return f"must be printable: U+{ord(bad):04X} is not allowed"
    if not value.strip("."):
        return "must not be only dots"
    return None


def checked_id(value: str) -> str:
    problem = id_problem(value)
    if problem is not None:
        raise PydanticCustomError("invalid_id", "id {problem}", {"problem": problem})
    return value


#: an id in a request body, path or query: the one rule for every id the API takes
Ident = Annotated[
    str,
    AfterValidator(checked_id),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": ID_PATTERN}),
]


def whole_number(value: object) -> object:
    """A JSON number with nothing after the point (``677.0``) is the integer JSON Schema
    says it is; anything else goes to strict integer validation unchanged (``"2"``,
    ``true`` and ``2.5`` stay refused)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


#: an integer field of a request body (strict, but ``677.0`` is 677)
Whole = Annotated[int, BeforeValidator(whole_number)]


class Strict(BaseModel):
    """A request body: unknown fields refused, and no coercion (``"2"`` is not a number,
    ``"yes"`` and ``1`` are not booleans; a JSON integer is a number); no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class SkuSpec(Strict):
    """Settings of a SKU; ``on_hand`` is the starting stock when the SKU is created."""

    name: str = Field("", max_length=200)
    on_hand: Whole = Field(0, ge=0, le=10_000_000)
    lead_time_minutes: float = Field(720.0, ge=0, le=60 * 24 * 60)
    purchase_limit: (
        Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY), BeforeValidator(whole_number)] | None
    ) = None
    reservation_ttl_seconds: float = Field(900.0, gt=0, le=7 * 24 * 3600)
    substitutes: list[Ident] = Field(default_factory=list, max_length=20)
    safety_floor: Whole = Field(0, ge=0, le=10_000_000)
    critical_floor: Whole = Field(0, ge=0, le=10_000_000)
    on_sale_since: float | None = Field(
        None,
        gt=0,
        le=LATEST,
        description="epoch seconds: when the SKU went on sale (its sales rate counts from here); "
        "default: when it is created; an update without it keeps the SKU's",
    )
    on_sale_until: float | None = Field(
        None,
        gt=0,
        le=LATEST,
        description="epoch seconds: when its show ends (alert horizons stop there), after "
        "on_sale_since (422 otherwise); default: unknown; an update without it keeps the SKU's",
    )


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
    held: int = Field(0, description="available units held for platform-first platforms' grants")
    free: int = Field(0, description="available - held: what a reserve-first order may take")
    inbound: list[Inbound]
    inbound_units: int
    velocity_per_min: float | None = None
    acceleration: float | None = None
    eta_minutes: float | None = None
    sellable_orders: int | None = None
    oversold: dict[str, int] = Field(default_factory=dict)
    visible: dict[str, int] = Field(
        default_factory=dict, description="channel -> units its platform may show (the channel sync's)"
    )
    alert_level: str | None = None
    alerts: list[dict[str, Any]] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)


class SkuPage(BaseModel):
    items: list[SkuView]
    total: int
    offset: int
    limit: int


class HistoryPoint(BaseModel):
    """A SKU's counters (units) at the end of one minute, and the units ordered in it."""

    minute: float = Field(description="epoch seconds when the minute starts")
    on_hand: int
    reserved: int
    sold: int
    available: int
    ordered: int = Field(description="units reserved or sold during the minute (net, never below 0)")


class AlertMarker(BaseModel):
    """One notification of the SKU's alerts, where the chart marks it."""

    at: float = Field(description="epoch seconds when it was recorded")
    event_id: str
    kind: str
    level: str
    status: str
    alert_id: str
    inhibited: bool
    silenced: bool
    quiet: bool = Field(False, description="a resolution stored and shown, not sent to receivers")


class SkuHistoryOut(BaseModel):
    sku: str
    since: float = Field(description="epoch seconds: the window's start")
    until: float = Field(description="epoch seconds: the window's end (now)")
    step_seconds: float
    points: list[HistoryPoint]
    markers: list[AlertMarker]
    complete: bool = Field(description="false when the read limit was reached before the window's start")


class RestockRequest(Strict):
    quantity: Whole = Field(ge=1, le=10_000_000)
    transfer_id: Ident
    source: str = Field("", max_length=200)
    arrives_at: float | None = Field(
        None, le=LATEST, description="epoch seconds (at most 2100); later than now = inbound transfer"
    )


def not_zero(value: int) -> int:
    """A correction of 0 units is no correction (the owners refuse it too)."""
    if value == 0:
        raise PydanticCustomError("not_zero", "delta must not be 0")
    return value


class AdjustRequest(Strict):
    delta: Annotated[Whole, AfterValidator(not_zero)] = Field(
        ge=-10_000_000, le=10_000_000, json_schema_extra={"not": {"const": 0}}
    )
    adjustment_id: Ident
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
    sku: Ident
    quantity: Whole = Field(ge=1, le=MAX_LINE_QUANTITY)


class OrderIn(Strict):
    channel: Ident
    order_id: Ident
    buyer_id: Ident = "unknown"
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
    """Mute the notifications of the alerts every matcher selects (``policies.silences``)."""

    sku: Ident = Field("*", description="SKU pattern: `*` any run of characters, `?` one character")
    level: str = Field("*", pattern=r"^(\*|TREND|THRESHOLD|EMERGENCY|CHANNEL_STALLED)$")
    channel: Ident = Field("*", description="a configured channel, or `*` for any (and for no channel)")
    minutes: float = Field(gt=0, le=7 * 24 * 60)
    comment: str = Field("", max_length=500)


#: the receiver kinds (``policies.subscriptions.ReceiverKind``), as the schema states them
ReceiverKindName = Literal["webhook", "alertmanager", "alertmanager-api", "dingtalk", "wecom", "feishu"]
AlertLevel = Literal["TREND", "THRESHOLD", "EMERGENCY", "CHANNEL_STALLED"]
Seconds = Annotated[float, Field(ge=0, le=MAX_TIMING_SECONDS)]


class SilenceOut(BaseModel):
    id: str
    sku: str
    level: str
    channel: str
    until_wall: float = Field(description="epoch seconds when the silence ends")
    created_by: str
    created_wall: float | None = Field(None, description="epoch seconds when it was created")
    comment: str


class SubscriptionRequest(Strict):
    """A receiver of alert notifications (docs/alerts.md, "Receivers")."""

    kind: ReceiverKindName = Field(
        "webhook",
        description=(
            "webhook: flashstock's JSON digest, Standard Webhooks signed with `secret` (16+ "
            "characters); alertmanager: Alertmanager's webhook payload (version 4), signed when "
            "`secret` is given; alertmanager-api: the alerts pushed to `{url}/api/v2/alerts` of an "
            "Alertmanager; dingtalk: a DingTalk group robot (`url` with its access_token; `secret`: "
            "its 加签 SEC… secret, optional); wecom: a WeCom group robot (`url` with its key; no "
            "secret); feishu: a Feishu group robot (`secret`: its 签名校验 secret, optional)"
        ),
    )
    url: str = Field(min_length=1, max_length=2048, description="http(s), a public host, no user:password@")
    secret: str = Field("", max_length=200, description="the signing secret, where the kind signs")
    levels: list[AlertLevel] = Field(default_factory=list, description="the levels wanted; empty: all")
    group_wait_seconds: Seconds = Field(
        DEFAULT_GROUP_WAIT, description="wait this long after a show's first notification before sending"
    )
    group_interval_seconds: Seconds = Field(
        DEFAULT_GROUP_INTERVAL, description="then send news at most this often"
    )
    repeat_interval_seconds: Seconds = Field(
        DEFAULT_REPEAT_INTERVAL, description="remind of still-firing alerts this often when nothing changed"
    )


class SubscriptionOut(BaseModel):
    id: str
    kind: str
    #: a group robot's URL is its secret: only its scheme and host are shown
    url: str
    levels: list[str]
    created_by: str
    group_wait_seconds: float
    group_interval_seconds: float
    repeat_interval_seconds: float


class DeadLetterOut(BaseModel):
    """A digest a receiver never took: why, after how many attempts, when (unix
    seconds), where (a robot's URL shown as ``scheme://host/***``) and what, for a resend."""

    event_id: str
    url: str
    error: str
    attempts: int
    failed_at: float
    payload: dict[str, Any]


class DeadLettersOut(BaseModel):
    subscription: str
    items: list[DeadLetterOut]


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
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 500, 503)
}
