"""Telling the forecaster of every durable batch: sales, stock and settings, fire-and-forget.

The forecaster is a peer, passed in as a lookup (``find``: the actor builds it from
``actors.infra.directory``), so this class does no Ray of its own and a unit test can
hand it a list's ``append``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from actors.infra.wire import pack_commit
from actors.owner.batch import CommitBatch

#: sends one packed commit (``wire.pack_commit``) to the forecaster without waiting
Send = Callable[[bytes], None]


class ForecasterFeed:
    """The ``on_commit`` listener of an owner's ``GroupCommitter``."""

    def __init__(
        self,
        index: int,
        epoch: int,
        find: Callable[[], Send | None],
        *,
        retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.index = index
        self.epoch = epoch
        self._find = find
        self._send: Send | None = None
        self._checked: float | None = None
        self.retry_seconds = retry_seconds
        self.clock = clock
        #: batches told to the forecaster by this incarnation (the owner's ``forecast_sent``)
        self.sent = 0

    def __call__(self, batch: CommitBatch) -> None:
        """Send the batch's news, if it has any and a forecaster runs (looked up at most
        every ``retry_seconds`` while there is none). Each payload carries this
        incarnation's (index, epoch, sequence number) so the forecaster can say whether it
        has heard everything sent so far."""
        if not batch.has_forecast_news():
            return
        if self._send is None:
            now = self.clock()
            if self._checked is not None and now - self._checked < self.retry_seconds:
                return
            self._checked = now
            self._send = self._find()
            if self._send is None:
                return
        self.sent += 1
        origin = (self.index, self.epoch, self.sent)
        self._send(pack_commit(origin, batch.sales, batch.ledgers, batch.settings.values()))
