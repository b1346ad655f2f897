"""The platforms' inbox streams as a load generator sees them: which channels it feeds,
their stream keys, and the order decisions the ingest actors published back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from actors.infra.keys import ChannelKeys
from actors.infra.redis_client import RedisClient
from actors.infra.settings import StoreConfig
from actors.ingest.core import read_decisions

#: the channels generated load goes to, each named after the platform whose native
#: payload it carries (channel -> format)
CHANNELS = {"douyin": "douyin", "taobao": "taobao", "kuaishou": "kuaishou"}


def inbox_keys(config: StoreConfig) -> dict[str, ChannelKeys]:
    """The stream keys of each of ``CHANNELS`` in ``config``'s namespace."""
    return {channel: ChannelKeys.of(config.namespace, channel) for channel in CHANNELS}


class Published(NamedTuple):
    """One published order decision."""

    channel: str
    entry_id: str  # shared by every decision of one ingest batch
    fields: list[str]  # as in ``format_order_decision``


def published_orders(
    raw: RedisClient,
    keys: Mapping[str, ChannelKeys],
    start: str = "-",
) -> list[Published]:
    """Every order decision published in ``keys``' channels since entry ``start``."""
    return [
        Published(channel, entry_id, fields)
        for channel, k in keys.items()
        for entry_id, fields in read_decisions(raw, k, start)
        if fields[0] == "order"
    ]
