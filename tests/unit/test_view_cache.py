"""A replica's cache of the forecaster's views: a warm SKU is answered from memory and is
never older than ``max_age``; SKUs nobody asks for are dropped and the refresher stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from serve_app.view_cache import ViewCache


class Forecaster:
    """Answers views whose ``version`` grows with every call, for the SKUs it knows."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.calls: list[list[str]] = []

    async def views(self, skus: Sequence[str]) -> list[dict[str, Any]]:
        self.calls.append(list(skus))
        return [{"sku": sku, "version": len(self.calls)} for sku in skus if sku in self.known]


async def until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def test_a_warm_sku_is_answered_from_memory_and_kept_fresh() -> None:
    async def scenario() -> None:
        forecaster = Forecaster({"A", "B"})
        cache = ViewCache(forecaster.views, max_age=0.1, keep_seconds=5.0)
        first = await cache.get("A")
        assert first == {"sku": "A", "version": 1}
        assert await cache.get("A") == first  # within max_age: no call
        assert len(forecaster.calls) == 1
        # the refresher fetches every asked SKU in one call, every max_age / 2
        await cache.get("B")
        await until(lambda: ["A", "B"] in forecaster.calls)
        calls = len(forecaster.calls)
        fresh = await cache.get("A")
        assert fresh is not None
        assert fresh["version"] > 1
        assert len(forecaster.calls) == calls  # answered from what the refresher fetched
        cache.close()

    asyncio.run(scenario())


def test_a_view_older_than_max_age_is_fetched_before_it_is_answered() -> None:
    async def scenario() -> None:
        forecaster = Forecaster({"A"})
        cache = ViewCache(forecaster.views, max_age=0.05, keep_seconds=5.0)
        await cache.get("A")
        cache.close()  # no refresher: the cached view ages
        await asyncio.sleep(0.06)
        cache._refresher = asyncio.get_running_loop().create_task(asyncio.sleep(3600))  # keep it stopped
        view = await cache.get("A")
        assert view == {"sku": "A", "version": 2}
        cache.close()

    asyncio.run(scenario())


def test_unknown_skus_answer_none_and_unasked_skus_are_dropped() -> None:
    async def scenario() -> None:
        forecaster = Forecaster(set())
        cache = ViewCache(forecaster.views, max_age=0.02, keep_seconds=0.05)
        assert await cache.get("NOPE") is None
        refresher = cache._refresher
        assert refresher is not None
        await until(refresher.done)  # nobody asked for keep_seconds: the refresher stops
        assert cache._views == {}
        calls = len(forecaster.calls)
        await asyncio.sleep(0.05)
        assert len(forecaster.calls) == calls

    asyncio.run(scenario())


def test_waiting_queries_share_one_fetch() -> None:
    async def scenario() -> None:
        entered, release = asyncio.Event(), asyncio.Event()
        forecaster = Forecaster({"A"})

        async def slow(skus: Sequence[str]) -> list[dict[str, Any]]:
            entered.set()
            await release.wait()
            return await forecaster.views(skus)

        cache = ViewCache(slow, max_age=10.0, fetch_timeout=5.0)
        waiting = [asyncio.ensure_future(cache.get("A")) for _ in range(50)]
        # the fetch is scheduled after the 50 queries: by the time it runs, all are waiting
        await entered.wait()
        release.set()
        views = await asyncio.gather(*waiting)
        assert len(forecaster.calls) == 1
        assert all(view == {"sku": "A", "version": 1} for view in views)
        cache.close()

    asyncio.run(scenario())


def test_a_silent_forecaster_gets_the_last_view_not_a_hang_or_an_error() -> None:
    async def scenario() -> None:
        forecaster = Forecaster({"A"})
        answering = True
        never = asyncio.Event()

        async def flaky(skus: Sequence[str]) -> list[dict[str, Any]]:
            if not answering:
                await never.wait()  # restarting: no answer
            return await forecaster.views(skus)

        cache = ViewCache(flaky, max_age=0.02, fetch_timeout=0.05, keep_seconds=60)
        first = await cache.get("A")
        answering = False
        await asyncio.sleep(0.05)
        started = time.monotonic()
        assert await cache.get("A") == first  # stale, but an answer
        assert time.monotonic() - started < 1.0
        assert await cache.get("NEVER-SEEN") is None
        cache.close()

        async def broken(skus: Sequence[str]) -> list[dict[str, Any]]:
            raise RuntimeError("forecaster died")

        failing = ViewCache(broken, max_age=0.02, fetch_timeout=1.0)
        assert await failing.get("A") is None
        failing.close()

    asyncio.run(scenario())


def test_a_slow_old_fetch_never_replaces_a_newer_view() -> None:
    async def scenario() -> None:
        entered, gate = asyncio.Event(), asyncio.Event()
        versions = iter([1, 2])

        async def fetch(skus: Sequence[str]) -> list[dict[str, Any]]:
            version = next(versions)
            if version == 1:
                entered.set()
                await gate.wait()  # the first fetch answers last
            return [{"sku": "A", "version": version}]

        cache = ViewCache(fetch, max_age=10.0, fetch_timeout=5.0)
        old = asyncio.ensure_future(cache._refresh(["A"]))
        await entered.wait()
        await cache._refresh(["A"])  # started later, answered first
        gate.set()
        await old
        assert await cache.get("A") == {"sku": "A", "version": 2}
        cache.close()

    asyncio.run(scenario())
