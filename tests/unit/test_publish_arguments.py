"""The publication script's arguments say how wide each dead letter and cancellation
request is, so the script steps by what was sent, not by a count written into it."""

from __future__ import annotations

import pytest

from actors.infra.keys import ChannelKeys
from actors.ingest.publish_script import publish_arguments

KEYS = ChannelKeys.of("ns", "douyin")


def arguments(
    dead: list[dict[str, str]], cancels: list[dict[str, str]], read_range: tuple[str, str] | None = None
) -> list[str | int]:
    return publish_arguments(
        KEYS,
        "group",
        1000,
        "",
        counts={},
        dead_letters=dead,
        cancellations=cancels,
        order_index={},
        acknowledged=["1-0"],
        read_range=read_range,
        now=1_800_000_000.0,
        retention_seconds=3600.0,
    )


def test_each_kind_carries_its_width_and_its_values_after_the_keys() -> None:
    dead = [{"reason": "r", "raw": "x", "order_id": "o1"}]
    cancels = [{"channel": "c", "order_id": "o2"}, {"channel": "c", "order_id": "o3"}]
    args = arguments(dead, cancels)
    values = args[8:]  # after the eight keys
    assert values[5:13] == [0, 1, 2, 0, 6, 4, "", ""]  # counters, letters, cancels, records, widths, range
    assert values[13:] == ["channel", "c", "order_id", "o2", "channel", "c", "order_id", "o3",
                           "reason", "r", "raw", "x", "order_id", "o1", "1-0"]  # fmt: skip


def test_a_range_read_in_order_goes_in_the_fixed_arguments_beside_the_position_key() -> None:
    args = arguments([], [], read_range=("5-0", "9-3"))
    assert args[7] == KEYS.position
    assert args[8 + 11 : 8 + 13] == ["5-0", "9-3"]
    assert args[8 + 13 :] == ["1-0"]  # only the entries to acknowledge follow


def test_entries_of_one_kind_with_other_fields_are_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="different fields"):
        arguments([{"reason": "r"}, {"reason": "r", "raw": "x"}], [])
