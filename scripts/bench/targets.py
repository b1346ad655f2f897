"""The speed targets flashstock is held to, and a bench's verdict on each: met, or missed
by how much (``judge``), printed after the bench's figures and kept in its JSON.

A target is a floor (at least) or a ceiling (at most) on one figure of one bench's
results, under the conditions the target names (a rate offered, a batch size, a
workload). A run made under other conditions is still judged, with the difference said
beside the verdict, except where the condition is the point of the target (a latency at
a rate the run did not reach): that run is "not judged", with the reason. Where a target
is missed the verdict gives the share of the target reached and the factor still
needed, so runs on machines of different speed compare by ratio.

The targets are those of the speed issue (docs/benchmarks.md): end to end >= 1.5x the
classic Lua pattern and >= 2x the same-work Lua consumer (300,000 orders over 1,000
SKUs); one owner >= 200,000 decisions/s at 1,000-line batches with one SKU and with
1,000; ingest drain >= 100,000 lines/s and p99 <= 100 ms at 20,000 orders/s offered;
``GET /v1/skus/{sku}`` p99 <= 50 ms at 200 req/s; ``POST /v1/orders`` with 1,000 orders
per request >= 50,000 lines/s; alert latency p99 <= 250 ms at 20,000 orders/s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

#: a run below this share of the rate a latency target names does not reach its condition
RATE_REACHED = 0.95


class Judged(NamedTuple):
    """One figure of a run for one target: ``measured`` (None: the run has no such
    figure), ``note`` (how the run's conditions differ from the target's, or '') and
    ``judged`` (False: the run did not reach the target's condition, ``note`` says why)."""

    measured: float | None
    note: str = ""
    judged: bool = True


class Target(NamedTuple):
    """``what`` must be at least (``at_least``) or at most ``bound`` ``unit``;
    ``figure`` reads the run's figure from a bench's results."""

    what: str
    bound: float
    at_least: bool
    unit: str
    figure: Callable[[Mapping[str, Any]], Judged]


class Verdict(NamedTuple):
    """``target`` judged on one run: its figure there (``measured``), the ``note`` on the
    run's conditions and whether they let it be ``judged``."""

    target: Target
    measured: float | None
    note: str
    judged: bool

    @property
    def met(self) -> bool | None:
        """Whether the target was met; None when it was not judged."""
        if not self.judged or self.measured is None:
            return None
        bound = self.target.bound
        return self.measured >= bound if self.target.at_least else self.measured <= bound

    def text(self) -> str:
        what, bound, at_least, unit, _ = self.target
        target = f"target {'>=' if at_least else '<='} {_figure(bound, unit)}"
        if self.measured is None or self.met is None:
            why = self.note or "the run has no such figure"
            return f"{what}: not judged ({why}); {target}"
        head = f"{what}: {_figure(self.measured, unit)}, {target}: "
        if self.met:
            verdict = "met"
        elif at_least and self.measured <= 0:
            verdict = "MISSED, none of it"
        elif at_least:
            reached = self.measured / bound
            verdict = f"MISSED, {reached:.0%} of it (needs {bound / self.measured:.2f}x)"
        else:
            over = _figure(self.measured - bound, unit)
            verdict = f"MISSED by {over} ({self.measured / bound:.2f}x the bound)"
        return head + verdict + (f" [{self.note}]" if self.note else "")

    def to_json(self) -> dict[str, Any]:
        what, bound, at_least, unit, _ = self.target
        return {
            "what": what,
            "bound": bound,
            "at_least": at_least,
            "unit": unit,
            "measured": self.measured,
            "met": self.met,
            "note": self.note,
        }


def judge(targets: Sequence[Target], results: Mapping[str, Any]) -> list[Verdict]:
    """Each of ``targets`` judged on one bench's ``results``."""
    return [Verdict(target, *target.figure(results)) for target in targets]


def add_verdicts(targets: Sequence[Target], results: dict[str, Any]) -> list[Verdict]:
    """``targets`` judged on ``results``, also kept in them (``"targets"``, for the JSON)."""
    verdicts = judge(targets, results)
    results["targets"] = [verdict.to_json() for verdict in verdicts]
    return verdicts


def print_verdicts(verdicts: Sequence[Verdict]) -> None:
    print("targets:")
    for verdict in verdicts:
        print(f"  {verdict.text()}")


def _figure(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:,.0f} {unit}"


# ---- each bench's targets -------------------------------------------------------------

#: the workload the end-to-end targets are defined on
E2E_ORDERS = 300_000
E2E_SKUS = 1_000


def _e2e_ratio(contender: str) -> Callable[[Mapping[str, Any]], Judged]:
    def figure(results: Mapping[str, Any]) -> Judged:
        ratio = results["ratios"].get(f"flashstock_vs_{contender}")
        workload = results["workload"]
        note = ""
        if (workload["orders"], workload["skus"]) != (E2E_ORDERS, E2E_SKUS):
            note = (
                f"defined on {E2E_ORDERS:,} orders over {E2E_SKUS:,} SKUs; this run: "
                f"{workload['orders']:,} over {workload['skus']:,}"
            )
        return Judged(ratio, note)

    return figure


END_TO_END = (
    Target("end to end, flashstock / classic Lua", 1.5, True, "x", _e2e_ratio("classic_lua")),
    Target("end to end, flashstock / same-work Lua consumer", 2.0, True, "x", _e2e_ratio("same_work_lua")),
)


def _owner_case(skus: int) -> Callable[[Mapping[str, Any]], Judged]:
    def figure(results: Mapping[str, Any]) -> Judged:
        for case in results["cases"]:
            if case["skus"] == skus and case["batch"] == 1000:
                return Judged(float(case["decisions_per_s"]))
        return Judged(None, f"no case of {skus} SKU(s) at 1,000-line batches")

    return figure


OWNER = (
    Target("one owner, 1 SKU, 1,000-line batches", 200_000, True, "decisions/s", _owner_case(1)),
    Target("one owner, 1,000 SKUs, 1,000-line batches", 200_000, True, "decisions/s", _owner_case(1000)),
)

#: the steady rate the ingest latency target names
INGEST_RATE = 20_000


def _ingest_drain(results: Mapping[str, Any]) -> Judged:
    return Judged(float(results["drain_orders_per_s"]))


def _ingest_p99(results: Mapping[str, Any]) -> Judged:
    offered = results["steady_offered_per_s"]
    p99 = float(results["latency_ms_p99"])
    if offered < RATE_REACHED * INGEST_RATE:
        why = f"the load generator offered {offered:,} orders/s of the {INGEST_RATE:,} the target names"
        return Judged(p99, why, judged=False)
    return Judged(p99)


INGEST = (
    Target("ingest backlog drain", 100_000, True, "lines/s", _ingest_drain),
    Target(f"ingest p99, message to decision, at {INGEST_RATE:,} orders/s", 100, False, "ms", _ingest_p99),
)

#: the GET rate and POST batch the HTTP targets name
GET_RATE = 200
POST_BATCH = 1000


def _get_p99(results: Mapping[str, Any]) -> Judged:
    for run in results["get"]:
        if run["asked_per_s"] == GET_RATE:
            if run["achieved_per_s"] < RATE_REACHED * GET_RATE:
                why = f"{run['achieved_per_s']} req/s kept of the {GET_RATE} asked"
                return Judged(float(run["ms_p99"]), why, judged=False)
            return Judged(float(run["ms_p99"]))
    return Judged(None, f"no run at {GET_RATE} req/s (--rates)", judged=False)


def _post_lines(results: Mapping[str, Any]) -> Judged:
    post = results["post"]
    note = ""
    if post["batch"] != POST_BATCH:
        note = f"defined on {POST_BATCH:,} orders per request; this run: {post['batch']:,}"
    return Judged(float(post["lines_per_s"]), note)


HTTP = (
    Target(f"GET /v1/skus/{{sku}} p99 at {GET_RATE} req/s", 50, False, "ms", _get_p99),
    Target(f"POST /v1/orders x{POST_BATCH:,}", 50_000, True, "lines/s", _post_lines),
)

#: the background rate the alert latency target names
ALERT_RATE = 20_000


def _alert_p99(results: Mapping[str, Any]) -> Judged:
    latency = results["latency"]
    p99 = float(latency["latency_ms_p99"])
    if latency["decided_orders_per_s"] < RATE_REACHED * ALERT_RATE:
        why = f"{latency['decided_orders_per_s']:,} orders/s decided of the {ALERT_RATE:,} the target names"
        return Judged(p99, why, judged=False)
    return Judged(p99)


ALERTS = (Target(f"alert latency p99 at {ALERT_RATE:,} orders/s", 250, False, "ms", _alert_p99),)
