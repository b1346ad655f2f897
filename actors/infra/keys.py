"""Every Redis key flashstock uses, named in one place.

``ns`` is the deployment's namespace (``StoreConfig.namespace``).

Ledgers (written only by the SKU owners' commit script, ``actors.owner.store``; the
layout and its reasons are in ``docs/storage.md``). SKUs are grouped into a fixed number
of partitions (``policies.routing.partition_of``); every key of partition ``N`` carries
the hash tag ``{ns:pN}``, so one commit touches one Redis Cluster slot:

- ``ns:layout``                    the shard count the deployment runs with now
- ``ns:partitions``                the partition count, fixed on the first start
- ``ns:bucket-seconds``            the line buckets' span, fixed on the first start (3600
                                   for a namespace written before it was recorded)
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

Keys a script or a transaction uses together carry one hash tag (the part in ``{}``,
which alone decides a key's Redis Cluster slot), so every multi-key write stays in one
slot: per SKU (``{sku}``, above), per channel (``{ns:ch:<channel>}``), for the channel
sync and grant protocol (``{ns:sync}``) and for the alert hub (``{ns:alerts}``). Names in
``{}`` below are hash tags; ``<x>`` is a value. A channel name may hold ``}``: its keys
still share one tag (the text up to the first ``}``), so still one slot.

Channels (``actors.ingest``), tag ``{ns:ch:<channel>}``, written together by the ingest's
publish transaction (``actors.ingest.store``):

- ``{ns:ch:<channel>}:in``               stream: the platform's order messages (the inbox)
- ``{ns:ch:<channel>}:decisions``        stream: published decisions, one entry per batch
- ``{ns:ch:<channel>}:dead``             stream: unreadable messages with their reason
- ``{ns:ch:<channel>}:orders:<w>``       hash: order id -> the order as first decided
                                         (lines and outcome; written once: conflicts,
                                         payments and cancels), one per window ``w`` of
                                         the retention window, expiring at the end of the
                                         next (``actors.ingest.order_index``); the unsplit
                                         ``{ns:ch:<channel>}:orders`` of versions before is
                                         read, and expires one window after the upgrade
- ``{ns:ch:<channel>}:orders:windows``   hash: the live windows of the order index (window
                                         key -> first write and expiry), so a lookup finds
                                         the windows of a retention before a change
- ``{ns:ch:<channel>}:cancel-requests``  stream: orders a platform-first platform sold
                                         that flashstock refused: the platform must
                                         cancel them
- ``{ns:ch:<channel>}:ingest-stats``     hash: counters of the channel's ingest
- ``{ns:ch:<channel>}:position``         hash: the last inbox entry decided in order
                                         (``id``) and the consumer group's entries-read
                                         count there (``read``, '' when unknown): where
                                         the ingest reads again from after a crash
                                         (``actors.ingest.store``)

Channel sync and grants (``actors.sync``), tag ``{ns:sync}``: a visibility publish writes
several channels' hashes with the change stream, a grant step the book, the headroom and
several platforms' update streams, in one transaction each:

- ``{ns:sync}:visible:<channel>``        hash: sku -> units the platform may show
- ``{ns:sync}:visible-changes``          stream: changes of the visible quantities
- ``{ns:sync}:grants:book``              string: the grant book (``actors.sync.grant_store``)
- ``{ns:sync}:grants:headroom``          hash: sku -> on_hand - reserved - sold - held by
                                         platforms
- ``{ns:sync}:grant-updates:<channel>``  stream: grant updates to the platform (add / take)
- ``{ns:sync}:grant-answers:<channel>``  stream: the platform's answers (units added /
                                         removed)

Alerts (``actors.alerts``), tag ``{ns:alerts}``: a notification is appended to the stream
with the open alert it changes in one transaction:

- ``{ns:alerts}``                        stream: every notification (durable history)
- ``{ns:alerts}:open``                   hash: open alerts
- ``{ns:alerts}:silences``               hash: silences
- ``{ns:alerts}:subscriptions``          hash: webhook subscriptions
- ``{ns:alerts}:webhook-dead:<id>``      list: webhook deliveries that failed for good

The previous layout's keys (before partitions and these hash tags) are named in
``actors.infra.legacy_keys``; ``flashstock migrate`` converts them.

Readers that span tags (``/metrics``, a SKU's history: the ledger and the alert stream)
read key by key or in non-transactional pipelines, which a cluster client splits by node.
"""

from __future__ import annotations

from typing import NamedTuple


def owner_epoch(ns: str, shard_count: int, index: int) -> str:
    return f"{ns}:epoch:{shard_count}:{index}"


def layout(ns: str) -> str:
    return f"{ns}:layout"


def partition_count(ns: str) -> str:
    return f"{ns}:partitions"


def bucket_span(ns: str) -> str:
    return f"{ns}:bucket-seconds"


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
    position: str  # hash: the last inbox entry decided in order (``id``) and the group's count

    @classmethod
    def of(cls, ns: str, channel: str) -> ChannelKeys:
        tag = channel_tag(ns, channel)
        return cls(
            f"{tag}:in",
            f"{tag}:decisions",
            f"{tag}:dead",
            f"{tag}:orders",
            f"{tag}:ingest-stats",
            f"{tag}:cancel-requests",
            f"{tag}:position",
        )


def channel_tag(ns: str, channel: str) -> str:
    """The hash tag of every key of ``channel``'s ingest."""
    return f"{{{ns}:ch:{channel}}}"


def sync_tag(ns: str) -> str:
    """The hash tag of the channel sync's and the grant protocol's keys."""
    return f"{{{ns}:sync}}"


def alerts_tag(ns: str) -> str:
    """The hash tag of the alert hub's keys."""
    return f"{{{ns}:alerts}}"


def visible(ns: str, channel: str) -> str:
    return f"{sync_tag(ns)}:visible:{channel}"


def visible_changes(ns: str) -> str:
    return f"{sync_tag(ns)}:visible-changes"


def grant_book(ns: str) -> str:
    return f"{sync_tag(ns)}:grants:book"


def grant_headroom(ns: str) -> str:
    return f"{sync_tag(ns)}:grants:headroom"


def grant_updates(ns: str, channel: str) -> str:
    return f"{sync_tag(ns)}:grant-updates:{channel}"


def grant_answers(ns: str, channel: str) -> str:
    return f"{sync_tag(ns)}:grant-answers:{channel}"


def alert_stream(ns: str) -> str:
    return alerts_tag(ns)


def open_alerts(ns: str) -> str:
    return f"{alerts_tag(ns)}:open"


def silences(ns: str) -> str:
    return f"{alerts_tag(ns)}:silences"


def subscriptions(ns: str) -> str:
    return f"{alerts_tag(ns)}:subscriptions"


def webhook_dead(ns: str, subscription_id: str) -> str:
    return f"{alerts_tag(ns)}:webhook-dead:{subscription_id}"
