"""Every Redis key flashstock uses, named in one place.

``ns`` is the deployment's namespace (``StoreConfig.namespace``). Per-SKU keys carry the
SKU in a hash tag (``{sku}``) so that a SKU's keys live in one Redis Cluster slot.

Ledgers (written only by the SKU owners' commit script, ``actors.owner.store``):

- ``ns:skus``                      set of every SKU in the catalogue
- ``ns:sku:{sku}:state``           hash: on_hand, reserved, sold, version, inbound, settings
- ``ns:sku:{sku}:lines``           hash: one field per order line / restock / adjustment,
                                   the decision record that makes retries idempotent
- ``ns:sku:{sku}:oversold``        hash: channel -> orders a platform accepted that the
                                   pool could not cover
- ``ns:ledger``                    stream: one entry per committed batch (audit trail,
                                   format in ``actors.infra.codec``)
- ``ns:epoch:{shards}:{index}``    the fencing epoch of owner ``index``
- ``ns:layout``                    the shard count the deployment runs with now

Channels (``actors.ingest``, ``actors.sync``):

- ``ns:in:{channel}``              stream: the platform's order messages (the inbox)
- ``ns:decisions:{channel}``       stream: published decisions, one entry per batch
- ``ns:dead:{channel}``            stream: unreadable messages with their reason
- ``ns:orders:{channel}``          hash: order id -> the order as first decided (lines and
                                   outcome; written once: conflicts, payments and cancels)
- ``ns:cancel-requests:{channel}`` stream: orders a platform-first platform sold that
                                   flashstock refused: the platform must cancel them
- ``ns:ingest-stats:{channel}``    hash: counters of the channel's ingest
- ``ns:visible:{channel}``         hash: sku -> units the platform may show
- ``ns:visible-changes``           stream: changes of the visible quantities
- ``ns:grants:book``               string: the grant book (``actors.sync.grant_store``)
- ``ns:grants:headroom``           hash: sku -> on_hand - reserved - sold - held by platforms
- ``ns:grant-updates:{channel}``   stream: grant updates to the platform (add / take)
- ``ns:grant-answers:{channel}``   stream: the platform's answers (units added / removed)

Alerts (``actors.alerts``):

- ``ns:alerts``                    stream: every notification (durable history)
- ``ns:alerts:open``               hash: open alerts
- ``ns:alerts:silences``           hash: silences
- ``ns:alerts:subscriptions``      hash: webhook subscriptions
- ``ns:webhook-dead:{id}``         list: webhook deliveries that failed for good
"""

from __future__ import annotations

from typing import NamedTuple


def skus(ns: str) -> str:
    return f"{ns}:skus"


def sku_state(ns: str, sku: str) -> str:
    return f"{ns}:sku:{{{sku}}}:state"


def sku_lines(ns: str, sku: str) -> str:
    return f"{ns}:sku:{{{sku}}}:lines"


def sku_oversold(ns: str, sku: str) -> str:
    return f"{ns}:sku:{{{sku}}}:oversold"


def ledger_stream(ns: str) -> str:
    return f"{ns}:ledger"


def owner_epoch(ns: str, shard_count: int, index: int) -> str:
    return f"{ns}:epoch:{shard_count}:{index}"


def layout(ns: str) -> str:
    return f"{ns}:layout"


class ChannelKeys(NamedTuple):
    """The Redis keys of one channel."""

    inbox: str  # stream the platform's messages arrive on
    decisions: str  # stream decisions are published to
    dead: str  # stream unreadable messages are parked in, with the reason
    orders: str  # hash: order id -> its lines (for payments and cancels by order)
    stats: str  # hash: counters
    cancellations: str  # stream: cancellation requests to the platform (compensation)

    @classmethod
    def of(cls, ns: str, channel: str) -> ChannelKeys:
        return cls(
            f"{ns}:in:{channel}",
            f"{ns}:decisions:{channel}",
            f"{ns}:dead:{channel}",
            f"{ns}:orders:{channel}",
            f"{ns}:ingest-stats:{channel}",
            f"{ns}:cancel-requests:{channel}",
        )


def visible(ns: str, channel: str) -> str:
    return f"{ns}:visible:{channel}"


def visible_changes(ns: str) -> str:
    return f"{ns}:visible-changes"


def grant_book(ns: str) -> str:
    return f"{ns}:grants:book"


def grant_headroom(ns: str) -> str:
    return f"{ns}:grants:headroom"


def grant_updates(ns: str, channel: str) -> str:
    return f"{ns}:grant-updates:{channel}"


def grant_answers(ns: str, channel: str) -> str:
    return f"{ns}:grant-answers:{channel}"


def alert_stream(ns: str) -> str:
    return f"{ns}:alerts"


def open_alerts(ns: str) -> str:
    return f"{ns}:alerts:open"


def silences(ns: str) -> str:
    return f"{ns}:alerts:silences"


def subscriptions(ns: str) -> str:
    return f"{ns}:alerts:subscriptions"


def webhook_dead(ns: str, subscription_id: str) -> str:
    return f"{ns}:webhook-dead:{subscription_id}"
