"""The alert scenario suite's cases: shows with their ground truth written before the run.

Each ``Case`` states what really happens (``Truth``: does the SKU sell out; does demand
really change, and from which minute; is it a steady show or a spike that fades) next to
the demand curve (orders per minute at each minute of the show) that produces it.
``scripts/replay/suite.py`` draws the sales and scores the runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from policies.ledger import SkuSettings

Rate = Callable[[float], float]  # orders per minute at minute m of the show


class Truth(NamedTuple):
    """What really happens, written before the run."""

    sells_out: bool
    #: demand really rises from this minute (detection cases), None if it never does
    change_at: float | None = None
    #: nothing changes and the stock lasts >= 300 minutes: every notification is false
    steady_ample: bool = False
    #: nothing changes and the stock outlasts the show (but would not outlast a 2.5x
    #: rise): every notification is a false alarm of the change test
    steady: bool = False
    #: a rise that fades within 5 minutes on ample stock: at most one notification, never THRESHOLD
    spike: bool = False


class Case(NamedTuple):
    name: str
    sku: SkuSettings
    on_hand: int
    minutes: float
    rate: Rate
    truth: Truth
    #: (minute ordered, units, minutes until it arrives)
    restocks: tuple[tuple[float, int, float], ...] = ()
    #: the show's end is known (its remaining time bounds the horizon)
    show_end_known: bool = False


def step(base: float, factor: float, at: float, until: float = math.inf) -> Rate:
    return lambda m: base * factor if at <= m < until else base


def ramp(base: float, per_hour: float) -> Rate:
    return lambda m: base * per_hour ** (m / 60.0)


def cases() -> list[Case]:
    """The suite. Defaults: lead time as given, 1 unit per order."""
    out: list[Case] = []
    for r in (1, 5, 20, 50, 200):  # steady, ample (>= 300 min of stock beyond the show)
        out.append(
            Case(
                f"steady-{r}/min",
                SkuSettings(f"STEADY{r}", lead_time_minutes=60),
                r * 540,
                240,
                step(r, 1, 0),
                Truth(False, steady_ample=True),
            )
        )
    for quiet in (1.2, 3, 10):  # steady, the stock outlasts the (known) show by 40%
        out.append(
            Case(
                f"steady-{quiet}/min-known-end",
                SkuSettings(f"QUIET{quiet}", lead_time_minutes=60),
                int(quiet * 240 * 1.4),
                240,
                step(quiet, 1, 0),
                Truth(False, steady=True),
                show_end_known=True,
            )
        )
    for slow, lead in ((0.1, 30), (0.2, 60), (0.5, 720), (0.3, 20)):  # slow sellers that run out
        out.append(
            Case(
                f"slow-{slow}/min-lead{lead}",
                SkuSettings(f"SLOW{slow}", lead_time_minutes=lead),
                int(slow * 100),
                200,
                step(slow, 1, 0),
                Truth(True),
            )
        )
    for base in (1, 2, 5, 20):
        for factor in (2, 3, 5, 10):
            stock = int(base * 230)  # 200 minutes left at the base rate when the surge starts
            out.append(
                Case(
                    f"surge-x{factor}-at-{base}/min",
                    SkuSettings(f"S{factor}X{base}", lead_time_minutes=60),
                    stock,
                    30 + 200 / factor + 40,
                    step(base, factor, 30),
                    Truth(True, change_at=30),
                )
            )
    for base, stock in ((2, 500), (5, 1300)):
        out.append(
            Case(
                f"ramp-10x/h-from-{base}/min",
                SkuSettings(f"RAMP{base}", lead_time_minutes=60),
                stock,
                120,
                ramp(base, 10),
                Truth(True, change_at=0),
            )
        )
    out.append(
        Case(
            "guest-at-minute-6",
            SkuSettings("GUEST", lead_time_minutes=60),
            500,
            120,
            step(2, 5, 6),
            Truth(True, change_at=6),
        )
    )
    for base, factor, length in ((2, 10, 3), (10, 5, 5), (50, 3, 4)):
        out.append(
            Case(
                f"spike-x{factor}-{length}min-at-{base}/min",
                SkuSettings(f"SPIKE{base}", lead_time_minutes=60),
                base * 600,
                240,
                step(base, factor, 60, 60 + length),
                Truth(False, spike=True),
            )
        )
    cooling: Rate = lambda m: 2 + 8 * math.exp(-m / 30)  # noqa: E731
    out.append(
        Case(
            "cooling-ample",
            SkuSettings("COOL", lead_time_minutes=60),
            3000,
            240,
            cooling,
            Truth(False, steady_ample=True),
        )
    )
    out.append(
        Case(
            "cooling-sells-out", SkuSettings("COOLOUT", lead_time_minutes=60), 500, 240, cooling, Truth(True)
        )
    )
    for lead in (10, 20, 30, 240, 1440):
        out.append(
            Case(
                f"lead-{lead}min",
                SkuSettings(f"LEAD{lead}", lead_time_minutes=lead),
                500,
                300,
                step(5, 1, 0),
                Truth(True),
                show_end_known=True,
            )
        )
    out.append(
        Case(
            "restock-mid-show",
            SkuSettings("RESTOCK", lead_time_minutes=30),
            300,
            200,
            step(5, 1, 0),
            Truth(True),
            restocks=((45, 300, 0),),
        )
    )
    out.append(
        Case(
            "transfer-in-time",
            SkuSettings("TRANSFER", lead_time_minutes=60),
            400,
            200,
            step(5, 1, 0),
            Truth(True),
            restocks=((30, 200, 20),),
        )
    )
    out.append(reference_case())
    return out


def reference_case() -> Case:
    """The double-11 hoodie: 500 units, 1.2/min for two hours, a guest at minute 120
    (4/min), 200 units transferred at 2h05 arriving 30 min later; sells out in hour 5."""
    return Case(
        "reference-double11",
        SkuSettings("HOODIE", "联名卫衣", lead_time_minutes=60),
        500,
        360,
        step(1.2, 4 / 1.2, 120),
        Truth(True, change_at=120),
        restocks=((125, 200, 30),),
        show_end_known=True,
    )
