"""A replica's copy of the forecaster's views (velocity, ETA, open alerts per SKU), so a
stock query does not wait for the forecaster: at most ``max_age`` seconds old.

A SKU asked for is fetched once (one Ray call) and then kept fresh by a refresher that,
every ``max_age / 2`` seconds, fetches in one call the views of the SKUs asked for in
the last ``keep_seconds``. A query for a warm SKU is answered from memory; a view is
never older than ``max_age`` when it is answered (an older one is fetched first).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

log = structlog.get_logger(__name__)

#: fetch views of SKUs from the forecaster (a Ray call), in the given order
Fetch = Callable[[Sequence[str]], Awaitable[list[dict[str, Any]]]]


class ViewCache:
    def __init__(self, fetch: Fetch, *, max_age: float = 0.5, keep_seconds: float = 10.0) -> None:
        self.fetch = fetch
        self.max_age = max_age
        self.keep_seconds = keep_seconds
        self._views: dict[str, tuple[float, dict[str, Any] | None]] = {}  # sku -> (fetched at, view)
        self._asked: dict[str, float] = {}  # sku -> last asked at
        self._refresher: asyncio.Task[None] | None = None
        self.fetches = 0

    async def get(self, sku: str) -> dict[str, Any] | None:
        """The forecaster's view of ``sku``, at most ``max_age`` seconds old (None when
        the forecaster does not know the SKU)."""
        now = time.monotonic()
        self._asked[sku] = now
        self._ensure_refresher()
        cached = self._views.get(sku)
        if cached is not None and now - cached[0] <= self.max_age:
            return cached[1]
        await self._refresh([sku])
        return self._views[sku][1]

    async def _refresh(self, skus: Sequence[str]) -> None:
        started = time.monotonic()
        views = await self.fetch(list(skus))
        self.fetches += 1
        by_sku = {view["sku"]: view for view in views}
        for sku in skus:
            self._views[sku] = (started, by_sku.get(sku))

    def _ensure_refresher(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.max_age / 2)
            now = time.monotonic()
            for sku in [s for s, at in self._asked.items() if now - at > self.keep_seconds]:
                del self._asked[sku]
                self._views.pop(sku, None)
            if not self._asked:
                return  # nobody is asking: the next query starts it again
            try:
                await self._refresh(sorted(self._asked))
            except Exception:  # the forecaster restarts: queries fetch on their own meanwhile
                log.warning("view_refresh_failed", skus=len(self._asked), exc_info=True)

    def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
