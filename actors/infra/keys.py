"""Every Redis key flashstock uses, named in one place.

``ns`` is the deployment's namespace (``StoreConfig.namespace``).

Ledgers (written only by the SKU owners' commit script, ``actors.owner.store``; the
layout and its reasons are in ``docs/storage.md``). SKUs are grouped into a fixed number
of partitions (``policies.routing.partition_of``); every key of partition ``N`` carries
the hash tag ``{ns:pN}``, so one commit touches one Redis Cluster slot:

- ``ns:layout``                    the shard count the deployment runs with now
- ``ns:partitions``                the partition count, fixed on the first start
- ``ns:epoch:{shards}:{index}``    the counter owner ``index``'s epochs are taken from
- ``{ns:pN}:fence``                hash: ``epoch`` of the owner that may write the
                                   partition, ``shards`` of the layout it belongs to
- ``{ns:pN}:state``                hash: sku -> its ledger (``codec.encode_ledger``)
- ``{ns:pN}:settings``             hash: sku -> its settings (JSON)
- ``{ns:pN}:oversold``             hash: sku and channel -> orders a platform accepted
                                   that the pool could not cover
- ``{ns:pN}:open``                 hash: line key -> record of every open reservation
- ``{ns:pN}:lines:{bucket}``       hash: line key -> the latest record of each line
                                   written in that bucket of commit time; expires after
                                   the retention window
- ``{ns:pN}:log``                  stream: one entry per committed batch (ledgers and
                                   changed line records, ``codec.decode_ledger_entry``),
                                   trimmed by age (``MINID``), never by length

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


def owner_epoch(ns: str, shard_count: int, index: int) -> str:
    return f"{ns}:epoch:{shard_count}:{index}"


def layout(ns: str) -> str:
    return f"{ns}:layout"


def partition_count(ns: str) -> str:
    return f"{ns}:partitions"


class PartitionKeys(NamedTuple):
    """The Redis keys of one partition of the ledgers; all share one hash tag."""

    fence: str
    state: str
    settings: str
    oversold: str
    open: str
    log: str
    #: the prefix of the line bucket hashes (``lines``)
    lines_prefix: str

    def lines(self, bucket: int) -> str:
        """The hash of the line records written in ``bucket`` of commit time."""
        return f"{self.lines_prefix}{bucket}"

    @classmethod
    def of(cls, ns: str, partition: int) -> PartitionKeys:
        tag = f"{{{ns}:p{partition}}}"
        return cls(
            f"{tag}:fence",
            f"{tag}:state",
            f"{tag}:settings",
            f"{tag}:oversold",
            f"{tag}:open",
            f"{tag}:log",
            f"{tag}:lines:",
        )


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
