"""The id character rule (``policies.ids``): its fast path for printable ASCII says what
the full pattern says."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from policies.ids import NOT_IN_IDS, bad_id_character

FULL = re.compile(f"[{NOT_IN_IDS}\\ud800-\\udfff]")


def reference(value: str) -> str | None:
    found = FULL.search(value)
    return None if found is None else found.group()


def test_every_single_character_up_to_the_private_use_area_is_judged_as_the_pattern_judges_it() -> None:
    for code in range(0x10000):
        value = f"order-{chr(code)}-1"
        assert bad_id_character(value) == reference(value), hex(code)


@given(st.text(max_size=40))
def test_any_text_is_judged_as_the_pattern_judges_it(value: str) -> None:
    assert bad_id_character(value) == reference(value)


def test_control_characters_and_delete_are_named() -> None:
    assert bad_id_character("a\x00b") == "\x00"
    assert bad_id_character("a\x7fb") == "\x7f"
    assert bad_id_character("a\u200bb") == "\u200b"
    assert bad_id_character("douyin-123 456") is None
