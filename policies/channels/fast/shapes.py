"""The typed shapes of each platform's messages, decoded by msgspec in one pass.

Each shape accepts only the types the reference parsers accept on their success path
(ids as text or integers, quantities as integers or digit strings, times as numbers or
text); anything else fails decoding and the message goes to the reference parser, which
names the field. Unknown fields are ignored, as the reference parsers ignore them.
Nested payloads (douyin ``data``, taobao ``content``, kuaishou ``info``) are decoded by
the shape their envelope's kind names. Platforms send them as JSON text: the ``...Text``
envelopes take them as text in one pass (no ``Raw`` to unquote); a payload given as an
object fails those and is read by the plain envelopes, which keep it as ``Raw``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

from policies.channels.fields import MAX_CENTS
from policies.ledger import MAX_LINE_QUANTITY

Id = str | int
OptionalId = str | int | None
#: epoch seconds or milliseconds, or a time written as text
Time = int | float | str
#: units of a line: a whole number in range, or digits in a string (checked by ``fields``)
Units = Annotated[int, Meta(ge=1, le=MAX_LINE_QUANTITY)] | str
#: an amount in cents, validated and otherwise unused
Cents = Annotated[int, Meta(ge=0, le=MAX_CENTS)] | UnsetType
#: a nested payload that was not there
MISSING = Raw()


# ---- douyin ---------------------------------------------------------------------------------


class DouyinEnvelope(Struct, gc=False):
    tag: str | int
    data: Raw = MISSING


class DouyinTextEnvelope(Struct, gc=False):
    tag: str | int
    data: str = ""


class DouyinItem(Struct, gc=False):
    item_num: Units
    out_sku_id: OptionalId = None
    code: OptionalId = None
    pay_amount: Cents = UNSET


class DouyinOrder(Struct, gc=False):
    p_id: Id
    sku_order_list: list[DouyinItem]
    create_time: Time
    buyer_id: OptionalId = None
    open_id: OptionalId = None
    order_status: Any = 1


class DouyinPaid(Struct, gc=False):
    p_id: Id
    pay_time: Time


class DouyinCancelled(Struct, gc=False):
    p_id: Id
    cancel_reason: str | None = None
    out_sku_ids: list[Id] | None = None


# ---- taobao ---------------------------------------------------------------------------------


class TaobaoEnvelope(Struct, gc=False):
    topic: str
    content: Raw = MISSING


class TaobaoTextEnvelope(Struct, gc=False):
    topic: str
    content: str = ""


class TaobaoItem(Struct, gc=False):
    num: Units
    outer_sku_id: OptionalId = None
    outer_iid: OptionalId = None
    payment: str | UnsetType = UNSET


class TaobaoOrderList(Struct, gc=False):
    """The API's wrapping of the item list: ``{"order": [...]}``."""

    order: list[TaobaoItem] | None = None


class TaobaoTrade(Struct, gc=False):
    tid: Id
    orders: list[TaobaoItem] | TaobaoOrderList
    created: Time
    buyer_nick: OptionalId = None
    status: Any = None


class TaobaoPaid(Struct, gc=False):
    tid: Id
    pay_time: Time | None = None
    modified: Time | None = None


class TaobaoClosed(Struct, gc=False):
    tid: Id
    outer_sku_id: OptionalId = None


# ---- kuaishou -------------------------------------------------------------------------------


class KuaishouEnvelope(Struct, gc=False):
    event: str
    info: Raw = MISSING


class KuaishouTextEnvelope(Struct, gc=False):
    event: str
    info: str = ""


class KuaishouItem(Struct, gc=False, rename="camel"):
    num: Units
    sku_nick: OptionalId = None
    rel_sku_id: OptionalId = None
    item_price: Cents = UNSET


class KuaishouOrder(Struct, gc=False, rename="camel"):
    oid: Id
    order_item_list: list[KuaishouItem]
    create_time: Time
    buyer_open_id: OptionalId = None
    pay_time: Any = None


class KuaishouPaid(Struct, gc=False, rename="camel"):
    oid: Id
    pay_time: Time


class KuaishouClosed(Struct, gc=False, rename="camel"):
    oid: Id
    sku_nick: OptionalId = None


# ---- generic --------------------------------------------------------------------------------


class GenericLine(Struct, gc=False):
    quantity: Units
    sku: OptionalId = None


class GenericMessage(Struct, gc=False):
    """Every kind of generic message in one shape; each kind reads its own fields."""

    kind: str = msgspec.field(name="type")
    order_id: Id
    paid_at: Time | None = None
    placed_at: Time | None = None
    reason: str | None = None
    skus: list[Id] | None = None
    lines: list[GenericLine] | None = None
    paid: bool = False
    buyer_id: OptionalId = None
