"""The alert scenario suite run and scored: the cases (``scripts/replay/cases.py``, ground
truth written before the run) become sales, the sales a replay, the replay a score.

Sales are Poisson arrivals drawn from a seed (thinning of the rate curve), run through
``scripts.replay.engine.run_replay``, the same engine and policy code ``flashstock
replay`` runs, and scored against the truth (``score``). ``monte_carlo`` repeats the
detection and false-alarm cases over seeds. Figures are recorded in docs/alerts.md.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from typing import NamedTuple

from policies.alert_rules import Level
from scripts.replay.cases import Case, cases
from scripts.replay.engine import Outcome, Restock, Sale, Tunables, run_replay
from scripts.replay.summary import count_flaps, first_at_level

T0 = 1_762_862_400.0  # 2025-11-11 20:00 China time


def draw_sales(case: Case, seed: int, sku: str | None = None) -> list[Sale]:
    """Poisson arrivals of ``case.rate`` over the show (thinning; one unit per order)."""
    rng = random.Random(f"{case.name}:{seed}")
    peak = max(case.rate(m / 2) for m in range(int(case.minutes * 2) + 1))
    sales: list[Sale] = []
    if peak <= 0:
        return sales
    minute = 0.0
    while True:
        minute += rng.expovariate(peak)
        if minute >= case.minutes:
            return sales
        if rng.random() * peak < case.rate(minute):
            sales.append(Sale(T0 + minute * 60, sku or case.sku.sku, 1, "douyin"))


def run_case(case: Case, seed: int, tunables: Tunables | None = None) -> Outcome:
    restocks = [
        Restock(T0 + minute * 60, case.sku.sku, units, T0 + (minute + after) * 60)
        for minute, units, after in case.restocks
    ]
    return run_replay(
        draw_sales(case, seed),
        {case.sku.sku: case.on_hand},
        [case.sku],
        tunables,
        restocks=restocks,
        show_ends_at=T0 + case.minutes * 60 if case.show_end_known else None,
        start=T0,
    )


class Score(NamedTuple):
    """One case's figures (minutes are show minutes)."""

    name: str
    sold_out: float | None
    missed: bool
    #: notifications from 60 min before the stock-out to 10 after (feed; to webhooks)
    around_stockout: int | None
    delivered_around_stockout: int | None
    total: int
    flaps: int
    emergency_before_threshold: bool
    #: minutes from the first EMERGENCY to the stock-out
    emergency_lead: float | None
    emergency_in_time: bool | None
    detected_after: float | None
    #: notifications on a steady SKU with >= 300 minutes of stock (the target: none)
    false_alarms: int
    #: notifications on a steady SKU whose stock outlasts the show (false surges)
    spurious: int
    #: a spike: at most one notification sent (a quiet resolution is stored, not sent),
    #: never THRESHOLD
    spike_ok: bool | None


def score(case: Case, outcome: Outcome) -> Score:
    events = [e for e in outcome.events if e.sku == case.sku.sku]
    minute: Callable[[float], float] = lambda at: (at - T0) / 60.0  # noqa: E731 - a local unit conversion
    sold = outcome.sold_out_at.get(case.sku.sku)
    told = [e for e in events if e.kind != "resolved"]
    missed = sold is not None and not any(e.at <= sold for e in told)
    around = delivered = None
    if sold is not None:
        window = [e for e in events if sold - 3600 <= e.at <= sold + 600]
        around = len(window)
        delivered = sum(e.told for e in window)
    # the episode that ends in the stock-out: after the last step down or resolution before it
    calm = [e.at for e in events if e.kind in ("resolved", "deescalated") and (sold is None or e.at < sold)]
    first = first_at_level([e for e in events if not calm or e.at > calm[-1]])
    emergency, threshold = first.get(Level.EMERGENCY), first.get(Level.THRESHOLD)
    lead = None if emergency is None or sold is None else (sold - emergency) / 60.0
    in_time = None
    if lead is not None:
        limit = 1.25 * case.sku.lead_time_minutes if case.sku.lead_time_minutes <= 30 else 45.0
        in_time = 0 <= lead <= limit
    detected = None
    if case.truth.change_at is not None:
        after = [e for e in told if minute(e.at) >= case.truth.change_at]
        detected = minute(after[0].at) - case.truth.change_at if after else None
    return Score(
        case.name,
        None if sold is None else round(minute(sold), 2),
        missed,
        around,
        delivered,
        len(events),
        count_flaps(events),
        emergency is not None and (threshold is None or threshold > emergency),
        None if lead is None else round(lead, 2),
        in_time,
        None if detected is None else round(detected, 2),
        len(events) if case.truth.steady_ample else 0,
        len(events) if case.truth.steady else 0,
        None
        if not case.truth.spike
        else sum(e.told for e in events) <= 1
        and not any(e.level in (Level.THRESHOLD, Level.EMERGENCY) for e in events),
    )


def mixed_show(seed: int, skus: int = 50, tunables: Tunables | None = None) -> tuple[list[Case], Outcome]:
    """A 50-SKU show of the suite's kinds, run as one replay (one forecaster)."""
    rng = random.Random(seed)
    pool = cases()
    chosen = [rng.choice(pool) for _ in range(skus)]
    renamed: list[Case] = []
    sales: list[Sale] = []
    restocks: list[Restock] = []
    for index, case in enumerate(chosen):
        sku = f"M{index:02d}-{case.sku.sku}"
        named = case._replace(
            sku=case.sku.__class__(sku, case.sku.name, case.sku.lead_time_minutes), minutes=180
        )
        renamed.append(named)
        sales += draw_sales(named, seed, sku)
        restocks += [Restock(T0 + m * 60, sku, u, T0 + (m + a) * 60) for m, u, a in case.restocks]
    sales.sort()
    outcome = run_replay(
        sales,
        {c.sku.sku: c.on_hand for c in renamed},
        [c.sku for c in renamed],
        tunables,
        restocks=restocks,
        start=T0,
    )
    return renamed, outcome


class Summary(NamedTuple):
    cases: int
    sold_out: int
    missed: int
    median_around: float | None
    median_delivered: float | None
    flaps: int
    emergency_before_threshold: int
    emergency_over_60: int
    emergency_in_time_share: float | None
    false_alarms: int
    spurious: int
    spikes_ok: str


def summarise(scores: Sequence[Score]) -> Summary:
    sold = [s for s in scores if s.sold_out is not None]
    around = [s.around_stockout for s in sold if s.around_stockout is not None]
    delivered = [s.delivered_around_stockout for s in sold if s.delivered_around_stockout is not None]
    timed = [s.emergency_in_time for s in sold if s.emergency_in_time is not None]
    spikes = [s.spike_ok for s in scores if s.spike_ok is not None]
    return Summary(
        len(scores),
        len(sold),
        sum(s.missed for s in scores),
        statistics.median(around) if around else None,
        statistics.median(delivered) if delivered else None,
        sum(s.flaps for s in scores),
        sum(s.emergency_before_threshold for s in scores),
        sum(1 for s in sold if s.emergency_lead is not None and s.emergency_lead > 60),
        round(sum(timed) / len(sold), 3) if sold else None,
        sum(s.false_alarms for s in scores),
        sum(s.spurious for s in scores),
        f"{sum(spikes)}/{len(spikes)}",
    )


class Detection(NamedTuple):
    name: str
    seeds: int
    detected: int
    p50: float | None
    p90: float | None


def monte_carlo(
    names: Sequence[str], seeds: int, tunables: Tunables | None = None, within: float = math.inf
) -> list[Detection]:
    """Detection delay (minutes) of the named cases over ``seeds`` seeds; detected means
    a notification within ``within`` minutes of the true change."""
    out = []
    for case in (c for c in cases() if c.name in names):
        delays = []
        for seed in range(seeds):
            found = score(case, run_case(case, seed, tunables)).detected_after
            delays.append(found if found is not None and found <= within else math.inf)
        delays.sort()
        detected = sum(not math.isinf(d) for d in delays)
        out.append(Detection(case.name, seeds, detected, _quantile(delays, 0.5), _quantile(delays, 0.9)))
    return out


class FalseAlarms(NamedTuple):
    """Notifications on the suite's steady cases over seeds: on SKUs with >= 300 minutes
    of stock (``ample``: the target is none), on SKUs whose stock outlasts a known show
    end by 40% (``tight``: false surges), and the SKU-hours of each."""

    ample: int
    ample_hours: int
    tight: int
    tight_hours: int


def false_alarms(seeds: int, tunables: Tunables | None = None) -> FalseAlarms:
    """Notifications on the suite's steady cases over ``seeds`` runs."""
    ample = ample_hours = tight = tight_hours = 0
    for case in (c for c in cases() if c.truth.steady or c.truth.steady_ample):
        for seed in range(seeds):
            scored = score(case, run_case(case, seed, tunables))
            ample += scored.false_alarms
            tight += scored.spurious
            if case.truth.steady_ample:
                ample_hours += round(case.minutes / 60)
            else:
                tight_hours += round(case.minutes / 60)
    return FalseAlarms(ample, ample_hours, tight, tight_hours)


def spikes(seeds: int, tunables: Tunables | None = None) -> list[tuple[str, int, int, int]]:
    """Per spike case over ``seeds`` runs: (name, runs with at most one notification sent
    and never THRESHOLD, the most notifications sent in one run, the most on the feed)."""
    out = []
    for case in (c for c in cases() if c.truth.spike):
        runs = [run_case(case, seed, tunables) for seed in range(seeds)]
        scored = [score(case, outcome) for outcome in runs]
        sent = max(sum(e.told for e in outcome.events if e.sku == case.sku.sku) for outcome in runs)
        out.append((case.name, sum(bool(s.spike_ok) for s in scored), sent, max(s.total for s in scored)))
    return out


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    value = values[min(math.ceil(q * len(values)) - 1, len(values) - 1)]
    return None if math.isinf(value) else round(value, 2)
