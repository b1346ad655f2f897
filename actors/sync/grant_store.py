"""Where the grant protocol's state lives: the grant book, the updates sent to each
platform and the platforms' answers.

Redis keys (``actors.infra.keys``, all under the hash tag ``{ns:sync}``):

- ``{ns:sync}:grants:book``             the book (``GrantBook.state()`` as JSON, with the
                                        position of the last answer taken from each
                                        platform)
- ``{ns:sync}:grants:headroom``         sku -> headroom units, as of the last commit
                                        (``/metrics``)
- ``{ns:sync}:grant-updates:<channel>`` updates for the platform's connector: ``id``,
                                        ``sku``, ``kind`` (add / take), ``units``
- ``{ns:sync}:grant-answers:<channel>`` the connector's answers: ``id``, ``sku``,
                                        ``kind``, ``units`` (added, or actually removed)

A step's new book, headroom and updates are written in one MULTI/EXEC (one slot on a
Redis Cluster, on a replica before it returns: ``actors.infra.atomic_write``): an update is never
sent without the book that counts it, so a restart resends what was not answered and never
grants the same units twice. ``InMemoryGrantStore`` keeps the same in one process, for unit
tests; ``tests/contract/test_grant_store_contract.py`` holds both to one behaviour.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from actors.infra import keys
from actors.infra.atomic_write import atomic_write
from actors.infra.codec import text
from actors.infra.redis_client import RedisClient, connect
from actors.infra.settings import StoreConfig
from actors.owner.memory_store import MemoryLedgers
from actors.owner.reads import read_line_records
from actors.sync.store import READ_COUNT, START, _xread_entries
from policies.grants import GrantUpdate, UpdateAnswer
from policies.ledger import LineRecord

_T = TypeVar("_T")

#: what a saved book is: ``GrantBook.state()`` plus ``"answered"`` (platform -> position)
BookState = dict[str, Any]


class GrantStore(Protocol):
    def load_book(self) -> BookState | None:
        """The saved book, or None before the first save."""

    def line_records(self) -> dict[str, dict[str, LineRecord]]:
        """Every SKU's committed line records within the retention window (sku -> line
        field -> newest record)."""

    def save(self, book: BookState, headroom: Mapping[str, int], updates: Sequence[GrantUpdate]) -> None:
        """Save the book and the headroom, and send ``updates``: all or none."""

    def answers(self, platform: str, after: str) -> list[tuple[str, UpdateAnswer]]:
        """The platform's answers after position ``after`` (``START``: all), oldest first."""

    def updates(self, platform: str, after: str) -> list[tuple[str, GrantUpdate]]:
        """The updates sent to the platform after ``after`` (what its connector reads)."""

    def answer(self, answers: Sequence[UpdateAnswer]) -> None:
        """Record platforms' answers (what their connectors write)."""

    def headroom(self) -> dict[str, int]:
        """The headroom per SKU saved with the last book."""


def _update_fields(message: GrantUpdate | UpdateAnswer) -> dict[str, str | int]:
    return {"id": message.update_id, "sku": message.sku, "kind": message.kind, "units": message.units}


def _read(fields: Mapping[Any, Any]) -> tuple[int, str, str, int]:
    f = {text(k): text(v) for k, v in fields.items()}
    return int(f["id"]), f["sku"], f["kind"], int(f["units"])


class RedisGrantStore:
    def __init__(self, config: StoreConfig, client: RedisClient | None = None) -> None:
        self.config = config
        self.client = client or connect(config.redis_url, socket_timeout=30.0)

    def load_book(self) -> BookState | None:
        raw = self.client.get(keys.grant_book(self.config.namespace))
        return None if raw is None else dict(json.loads(text(raw)))

    def line_records(self) -> dict[str, dict[str, LineRecord]]:
        return read_line_records(self.client, self.config, time.time())

    def save(self, book: BookState, headroom: Mapping[str, int], updates: Sequence[GrantUpdate]) -> None:
        ns = self.config.namespace

        def queue(pipe: Any) -> None:
            pipe.set(keys.grant_book(ns), json.dumps(book, separators=(",", ":")))
            if headroom:
                pipe.hset(keys.grant_headroom(ns), mapping=dict(headroom))
            for update in updates:
                fields: dict[Any, Any] = _update_fields(update)  # redis-py's field types are invariant
                pipe.xadd(keys.grant_updates(ns, update.platform), fields, maxlen=100_000, approximate=True)

        # repeatable: the book and headroom are whole values, and a connector applies an
        # update id once (``actors.sync.grants``), so an update sent twice grants once
        atomic_write(self.client, keys.grant_book(ns), queue, repeatable=True)

    def answers(self, platform: str, after: str) -> list[tuple[str, UpdateAnswer]]:
        stream = keys.grant_answers(self.config.namespace, platform)
        found = _xread_entries(self.client.xread({stream: after}, count=READ_COUNT))
        return [(entry_id, UpdateAnswer(platform, *_read(f))) for entry_id, f in found]

    def updates(self, platform: str, after: str) -> list[tuple[str, GrantUpdate]]:
        stream = keys.grant_updates(self.config.namespace, platform)
        found = _xread_entries(self.client.xread({stream: after}, count=READ_COUNT))
        return [(entry_id, GrantUpdate(platform, *_read(f))) for entry_id, f in found]

    def answer(self, answers: Sequence[UpdateAnswer]) -> None:
        if not answers:
            return
        ns = self.config.namespace

        def queue(pipe: Any) -> None:
            for answer in answers:
                fields: dict[Any, Any] = _update_fields(answer)  # redis-py's field types are invariant
                pipe.xadd(keys.grant_answers(ns, answer.platform), fields, maxlen=100_000)

        # repeatable: an answer taken twice changes nothing (``actors.sync.grants``)
        atomic_write(self.client, keys.grant_book(ns), queue, repeatable=True)

    def headroom(self) -> dict[str, int]:
        raw = self.client.hgetall(keys.grant_headroom(self.config.namespace)) or {}
        return {text(sku): int(text(units)) for sku, units in raw.items()}

    def close(self) -> None:
        self.client.close()


class InMemoryGrantStore:
    """``GrantStore`` over an in-memory owner store's data (its line records)."""

    def __init__(self, data: MemoryLedgers) -> None:
        self.data = data
        self.book: BookState | None = None
        self._headroom: dict[str, int] = {}
        self._updates: dict[str, list[GrantUpdate]] = {}
        self._answers: dict[str, list[UpdateAnswer]] = {}

    def load_book(self) -> BookState | None:
        return None if self.book is None else json.loads(json.dumps(self.book))

    def line_records(self) -> dict[str, dict[str, LineRecord]]:
        return self.data.line_records()

    def save(self, book: BookState, headroom: Mapping[str, int], updates: Sequence[GrantUpdate]) -> None:
        self.book = json.loads(json.dumps(book))
        self._headroom.update(headroom)
        for update in updates:
            self._updates.setdefault(update.platform, []).append(update)

    def answers(self, platform: str, after: str) -> list[tuple[str, UpdateAnswer]]:
        return _after(self._answers.get(platform, []), after)

    def updates(self, platform: str, after: str) -> list[tuple[str, GrantUpdate]]:
        return _after(self._updates.get(platform, []), after)

    def answer(self, answers: Sequence[UpdateAnswer]) -> None:
        for answer in answers:
            self._answers.setdefault(answer.platform, []).append(answer)

    def headroom(self) -> dict[str, int]:
        return dict(self._headroom)


def _after(items: list[_T], after: str) -> list[tuple[str, _T]]:
    """Items after position ``after`` ("n-0" ids, n from 1), at most ``READ_COUNT``."""
    start = int(after.split("-", 1)[0]) if after != START else 0
    return [(f"{start + i + 1}-0", item) for i, item in enumerate(items[start : start + READ_COUNT])]
