"""What the host and the chat are told (policies/live_room.py): from one count, never
contradicting; "最后N件" only for a few units; the substitute only near the end."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from policies.alert_rules import Level
from policies.live_room import LiveHint, LiveRoomSettings, live_hint

SETTINGS = LiveRoomSettings()


def hint(
    available: int, level: str | None, rate: float = 2.0, eta: float | None = None, reserved: int = 0
) -> LiveHint:
    return live_hint(
        "A",
        available,
        reserved,
        level,
        ("B",),
        {"B": 50},
        SETTINGS,
        {"B": "经典款"},
        rate=rate,
        eta_minutes=eta,
    )


def test_last_n_only_when_n_is_small_in_units_and_in_minutes_of_sales() -> None:
    assert hint(15, Level.EMERGENCY, rate=1.0).chat_hint.startswith("最后15件")
    assert hint(40, Level.EMERGENCY, rate=10.0).chat_hint.startswith("最后40件")  # 4 minutes of sales
    assert "最后" not in hint(211, Level.EMERGENCY, rate=5.0).chat_hint  # 42 minutes of sales
    assert hint(211, Level.EMERGENCY, rate=5.0).chat_hint.startswith("这款库存不多了")


def test_the_substitute_is_offered_near_the_stock_out_or_when_sold_out() -> None:
    assert hint(211, Level.EMERGENCY, rate=5.0, eta=39).substitute is None
    assert hint(20, Level.EMERGENCY, rate=5.0, eta=4).substitute == "B"
    gone = hint(0, Level.EMERGENCY)
    assert gone.substitute == "B"
    assert gone.chat_hint == "这款已经抢光了，没抢到的宝宝可以看看这个：经典款"


@given(
    available=st.integers(-5, 300),
    reserved=st.integers(0, 300),
    level=st.sampled_from([None, Level.TREND, Level.THRESHOLD, Level.EMERGENCY]),
    rate=st.floats(0, 50),
)
def test_host_and_chat_never_contradict(
    available: int, reserved: int, level: str | None, rate: float
) -> None:
    h = hint(available, level, rate=rate, reserved=reserved)
    sold_out_host = h.host_line == SETTINGS.templates["host_sold_out"]
    sold_out_chat = h.chat_hint.startswith(SETTINGS.templates["sold_out"])
    assert sold_out_host == sold_out_chat == (h.sellable_orders == 0)
    if "最后" in h.chat_hint:
        assert h.chat_hint.startswith(f"最后{h.sellable_orders}件")
