"""A replica's copy of the forecaster's views (velocity, ETA, open alerts per SKU), so a
stock query does not wait for the forecaster.

A SKU asked for is fetched once (one Ray call, shared by every query that waits for it)
and then kept fresh by a refresher that, every ``max_age / 2`` seconds, fetches in one
call the views of the SKUs asked for in the last ``keep_seconds``. A query for a warm SKU
is answered from memory with a view fetched less than ``max_age`` ago. When the
forecaster does not answer within ``fetch_timeout`` (it is restarting, or overloaded),
the query gets the last view it had (older than ``max_age``) or none, and the stock part
of the answer (read from Redis) is unaffected. A view is never replaced by one fetched
earlier, so answers never go back in time.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

log = structlog.get_logger(__name__)

#: fetch views of SKUs from the forecaster (a Ray call), in the given order
Fetch = Callable[[Sequence[str]], Awaitable[list[dict[str, Any]]]]
View = dict[str, Any]


class ViewCache:
    def __init__(
        self,
        fetch: Fetch,
        *,
        max_age: float = 0.5,
        keep_seconds: float = 10.0,
        fetch_timeout: float = 1.0,
        max_skus: int = 10_000,
    ) -> None:
        self.fetch = fetch
        self.max_age = max_age
        self.keep_seconds = keep_seconds
        self.fetch_timeout = fetch_timeout
        self.max_skus = max_skus
        #: sku -> (when its fetch started, the fetch's number, the view)
        self._views: dict[str, tuple[float, int, View | None]] = {}
        self._asked: dict[str, float] = {}  # sku -> last asked at, oldest first
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self._refresher: asyncio.Task[None] | None = None
        self.fetches = 0  # fetches answered
        self._started = 0  # fetches started, numbered in the order they started

    async def get(self, sku: str) -> View | None:
        """The forecaster's view of ``sku`` (None when it does not know the SKU or has not
        answered yet): fetched less than ``max_age`` ago, or the last one there is when
        the forecaster does not answer in time."""
        now = time.monotonic()
        self._asked.pop(sku, None)
        self._asked[sku] = now
        while len(self._asked) > self.max_skus:  # a flood of names: keep the recent ones
            oldest = next(iter(self._asked))
            del self._asked[oldest]
            self._views.pop(oldest, None)
        self._ensure_refresher()
        cached = self._views.get(sku)
        if cached is not None and now - cached[0] <= self.max_age:
            return cached[2]
        try:
            await asyncio.wait_for(asyncio.shield(self._fetch_once(sku)), self.fetch_timeout)
        except Exception as error:  # TimeoutError, or the forecaster's own failure
            log.warning("view_fetch_failed", sku=sku, error=type(error).__name__, stale=cached is not None)
        found = self._views.get(sku)
        return found[2] if found is not None else None

    def forget(self, sku: str) -> None:
        """Stop keeping ``sku`` fresh (it is not in the catalogue)."""
        self._asked.pop(sku, None)
        self._views.pop(sku, None)

    def _fetch_once(self, sku: str) -> asyncio.Future[None]:
        """One fetch of ``sku`` in flight at a time; every waiting query shares it."""
        inflight = self._inflight.get(sku)
        if inflight is None or inflight.done():
            inflight = asyncio.ensure_future(self._refresh([sku]))
            self._inflight[sku] = inflight
            inflight.add_done_callback(lambda _: self._inflight.pop(sku, None))
        return inflight

    async def _refresh(self, skus: Sequence[str]) -> None:
        started, self._started = time.monotonic(), self._started + 1
        number = self._started
        views = await self.fetch(list(skus))
        self.fetches += 1
        by_sku = {view["sku"]: view for view in views}
        for sku in skus:
            current = self._views.get(sku)
            if current is None or current[1] < number:  # never replace a view fetched later
                self._views[sku] = (started, number, by_sku.get(sku))

    def _ensure_refresher(self) -> None:
        if self._refresher is None or self._refresher.done():
            # a context of its own: not the request's that happened to start it
            self._refresher = asyncio.get_running_loop().create_task(
                self._refresh_loop(), context=contextvars.Context()
            )

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.max_age / 2)
            now = time.monotonic()
            for sku in [s for s, at in self._asked.items() if now - at > self.keep_seconds]:
                self.forget(sku)
            if not self._asked:
                return  # nobody is asking: the next query starts it again
            try:
                await asyncio.wait_for(self._refresh(list(self._asked)), self.max_age * 2)
            except Exception as error:  # the forecaster restarts: queries fetch on their own
                log.warning("view_refresh_failed", skus=len(self._asked), error=type(error).__name__)

    def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
