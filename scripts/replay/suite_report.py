"""``flashstock replay --suite``: the scenario suite's figures against the issue's targets."""

from __future__ import annotations

import math

from scripts.replay.cases import cases
from scripts.replay.engine import Tunables
from scripts.replay.suite import (
    Detection,
    false_alarms,
    mixed_show,
    monte_carlo,
    run_case,
    score,
    spikes,
    summarise,
)

#: (case names, detected within minutes, what the target asks)
DETECTION_TARGETS = (
    (
        ("surge-x3-at-2/min", "surge-x3-at-5/min", "surge-x3-at-20/min"),
        math.inf,
        ">= 95% detected, p90 <= 3 min",
    ),
    (("surge-x5-at-1/min", "surge-x5-at-2/min", "surge-x5-at-5/min"), math.inf, "p90 <= 2.5 min"),
    (("surge-x2-at-5/min", "surge-x2-at-20/min"), 5.0, ">= 90% within 5 min"),
    (("ramp-10x/h-from-2/min", "ramp-10x/h-from-5/min"), math.inf, "alerted by minute 20"),
    (("guest-at-minute-6",), math.inf, "detected within minutes"),
)


def print_suite(seeds: int, tunables: Tunables) -> int:
    """Print the suite (seed 0), the 50-SKU show and the Monte Carlo over ``seeds``."""
    scores = [score(case, run_case(case, 0, tunables)) for case in cases()]
    head = f"{'case':<34}{'soldout':>8}{'missed':>7}{'around':>7}{'total':>6}{'flaps':>6}"
    head += f"{'E<T':>5}{'Elead':>7}{'detect':>7}"
    print(head)
    for s in scores:
        print(
            f"{s.name:<34}{_f(s.sold_out):>8}{s.missed!s:>7}{_f(s.around_stockout):>7}{s.total:>6}"
            f"{s.flaps:>6}{int(s.emergency_before_threshold):>5}{_f(s.emergency_lead):>7}{_f(s.detected_after):>7}"
        )
    print(f"suite: {summarise(scores)}")
    show, outcome = mixed_show(0, tunables=tunables)
    mixed = [score(case, outcome) for case in show]
    print(f"50-SKU show: {summarise(mixed)}; notifications {len(outcome.events)}")
    fa = false_alarms(seeds, tunables)
    print(
        f"monte carlo steady SKUs: {fa.ample} notifications in {fa.ample_hours} SKU-hours with >= 300 min "
        f"of stock (target: 0); {fa.tight} in {fa.tight_hours} SKU-hours whose stock outlasts the show by 40%"
    )
    for name, ok, sent, feed in spikes(seeds, tunables):
        print(
            f"monte carlo {name:<24} {ok}/{seeds} with <= 1 sent, never THRESHOLD; at most {sent} sent, "
            f"{feed} on the feed  (target: at most one notification, never THRESHOLD)"
        )
    for names, within, target in DETECTION_TARGETS:
        for d in monte_carlo(names, seeds, tunables, within):
            print(f"monte carlo {_detection(d)}  (target: {target})")
    return 0


def _detection(d: Detection) -> str:
    return f"{d.name:<24} detected {d.detected}/{d.seeds}  p50 {_f(d.p50)} min  p90 {_f(d.p90)} min"


def _f(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)
