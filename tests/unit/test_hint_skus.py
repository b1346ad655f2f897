"""``GET /v1/live/hints?skus=``: its SKU ids follow the API's one id rule, and a list
over the limit is refused, never silently cut (``serve_app.routes_alerts.hint_skus``);
the published schema (``SKU_LIST_PATTERN``) says exactly what the route accepts."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from serve_app.errors import ApiError
from serve_app.routes_alerts import hint_skus
from serve_app.schemas import MAX_HINT_SKUS, SKU_LIST_PATTERN


def accepted(skus: str) -> bool:
    try:
        hint_skus(skus)
    except ApiError:
        return False
    return True


def test_the_ids_of_the_query_in_order() -> None:
    assert hint_skus("A,直播-1,a b") == ["A", "直播-1", "a b"]
    most = [f"S{n}" for n in range(MAX_HINT_SKUS)]
    assert hint_skus(",".join(most)) == most


@pytest.mark.parametrize("bad", ["\x00", "A\u200bB", "\ufffd", " A", "..", "x" * 129, ""])
def test_an_id_the_api_refuses_elsewhere_is_refused_naming_the_query(bad: str) -> None:
    with pytest.raises(ApiError) as refused:
        hint_skus(f"A,{bad}")
    error = refused.value
    assert (error.status, error.code, error.field) == (422, "validation_error", "skus")


def test_more_skus_than_the_limit_are_refused_not_cut() -> None:
    with pytest.raises(ApiError) as refused:
        hint_skus(",".join(f"S{n}" for n in range(MAX_HINT_SKUS + 1)))
    assert (refused.value.status, refused.value.field) == (422, "skus")
    assert str(MAX_HINT_SKUS) in refused.value.message


@given(st.lists(st.text(alphabet=st.sampled_from("ab. ,\x00\u200b直"), max_size=6), max_size=4))
def test_the_schema_pattern_accepts_what_the_route_accepts(parts: list[str]) -> None:
    skus = ",".join(parts)
    assert (re.fullmatch(SKU_LIST_PATTERN, skus) is not None) == accepted(skus), repr(skus)
