"""The row-lock database pattern for ``flashstock bench``: one transaction per order.

Each order runs ``UPDATE stock SET qty = qty - 1 WHERE sku = ? AND qty >= 1`` (the row
lock serialises buyers of one SKU; the condition refuses the sale when nothing is
left), inserts the order's decision row (its primary key makes a redelivered order
fail instead of deducting twice) and commits, from several writer threads, each with
its own connection.

PostgreSQL when ``psycopg`` is installed (the ``bench`` extra) and a server answers at
``FLASHSTOCK_BENCH_POSTGRES_URL`` (default ``postgresql:///test``), with
``synchronous_commit = on``; otherwise SQLite, which needs nothing but Python: a file
in WAL mode with ``synchronous = FULL`` (every commit fsynced).
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from scripts.loadgen.progress import progress_bar

DEFAULT_POSTGRES_URL = "postgresql:///test"


@dataclass(frozen=True)
class Database:
    kind: str  # "postgres" | "sqlite"
    target: str  # connection URL or file path
    description: str  # product and version
    durability: str

    def connect(self) -> Any:
        """A connection in which each order is its own transaction."""
        if self.kind == "postgres":
            import psycopg

            server = psycopg.connect(self.target)
            server.execute("SET synchronous_commit = on")
            server.commit()
            return server
        conn = sqlite3.connect(self.target, timeout=60.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def sql(self, statement: str) -> str:
        """``statement`` with ``?`` placeholders in this driver's style."""
        return statement.replace("?", "%s") if self.kind == "postgres" else statement


def postgres_url() -> str:
    return os.environ.get("FLASHSTOCK_BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def choose_database(choice: str, workdir: Path) -> Database:
    """``postgres``, ``sqlite`` or ``auto`` (PostgreSQL if it answers, else SQLite)."""
    if choice in ("auto", "postgres"):
        found = _postgres(postgres_url())
        if found is not None:
            return found
        if choice == "postgres":
            raise SystemExit(
                f"no PostgreSQL reachable at {postgres_url()} (or psycopg missing: pip install -e '.[bench]')"
            )
    return Database(
        "sqlite",
        str(workdir / "rowlock.sqlite3"),
        f"SQLite {sqlite3.sqlite_version}",
        "WAL, synchronous=FULL (fsync on every commit)",
    )


def _postgres(url: str) -> Database | None:
    try:
        import psycopg
    except ImportError:
        return None
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT current_setting('server_version'), current_setting('fsync')"
            ).fetchone()
    except psycopg.Error:
        return None
    if row is None:
        return None
    version, fsync = row
    return Database("postgres", url, f"PostgreSQL {version}", f"synchronous_commit=on, fsync={fsync}")


class RowLockRun(NamedTuple):
    seconds: float
    latencies_ms: list[float]  # one per order: its transaction
    accepted_by_sku: dict[str, int]
    remaining_by_sku: dict[str, int]
    decided: int  # decision rows stored


def row_lock_orders(
    database: Database, draws: Sequence[str], skus: Sequence[str], stock: int, writers: int
) -> RowLockRun:
    """Order ``n`` takes one unit of ``draws[n]``, in writer ``n % writers``'s connection;
    every SKU of ``skus`` starts with ``stock`` units."""
    prefix = f"fs_bench_{random.randrange(1 << 30):x}" if database.kind == "postgres" else "bench"
    stock_table, decisions_table = f"{prefix}_stock", f"{prefix}_decisions"
    setup = database.connect()
    if database.kind == "sqlite":
        setup.execute("PRAGMA journal_mode = WAL")
    setup.execute(f"CREATE TABLE {stock_table} (sku TEXT PRIMARY KEY, qty INTEGER NOT NULL)")
    setup.execute(
        f"CREATE TABLE {decisions_table} (order_id BIGINT PRIMARY KEY, sku TEXT NOT NULL, "
        "quantity INTEGER NOT NULL, accepted BOOLEAN NOT NULL)"
    )
    if database.kind == "sqlite":
        setup.execute("BEGIN")
    setup.cursor().executemany(
        database.sql(f"INSERT INTO {stock_table} VALUES (?, ?)"), [(sku, stock) for sku in skus]
    )
    setup.commit()
    update = database.sql(f"UPDATE {stock_table} SET qty = qty - ? WHERE sku = ? AND qty >= ?")
    insert = database.sql(f"INSERT INTO {decisions_table} VALUES (?, ?, ?, ?)")
    latencies: list[float] = []
    lock = threading.Lock()
    progress = progress_bar(total=len(draws), desc=f"row lock ({database.kind})", unit="order", leave=False)

    def write(first: int) -> None:
        conn = database.connect()
        mine: list[float] = []
        for n in range(first, len(draws), writers):
            began = time.perf_counter()
            if database.kind == "sqlite":
                conn.execute("BEGIN IMMEDIATE")  # take the write lock now, not on upgrade
            taken = conn.execute(update, (1, draws[n], 1)).rowcount == 1
            conn.execute(insert, (n, draws[n], 1, taken))
            conn.commit()
            mine.append((time.perf_counter() - began) * 1000)
            if len(mine) % 200 == 0:
                with lock:
                    progress.update(200)
        conn.close()
        with lock:
            progress.update(len(mine) % 200)
            latencies.extend(mine)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    progress.close()
    try:
        remaining = dict(setup.execute(f"SELECT sku, qty FROM {stock_table}").fetchall())
        accepted = dict(
            setup.execute(
                f"SELECT sku, SUM(quantity) FROM {decisions_table} WHERE accepted GROUP BY sku"
            ).fetchall()
        )
        (decided,) = setup.execute(f"SELECT COUNT(*) FROM {decisions_table}").fetchone()
        setup.commit()
    finally:
        if database.kind == "postgres":
            setup.execute(f"DROP TABLE {stock_table}, {decisions_table}")
            setup.commit()
        setup.close()
    if len(latencies) != len(draws):
        raise RuntimeError(f"row-lock writers finished {len(latencies)} of {len(draws)} orders")
    return RowLockRun(seconds, latencies, {k: int(v) for k, v in accepted.items()}, remaining, int(decided))
