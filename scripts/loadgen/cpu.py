"""CPU seconds a benchmark spends, read around each contender's run: the whole machine's
busy time (every process: Ray workers, Redis, clients) and Redis' own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from actors.infra.redis_client import RedisClient

_PROC_STAT = Path("/proc/stat")


def machine_busy_seconds() -> float | None:
    """CPU seconds every core has spent busy since boot (Linux ``/proc/stat``: all but
    idle and iowait); None where there is no ``/proc/stat``."""
    if not _PROC_STAT.exists():
        return None
    # user nice system idle iowait irq softirq steal: busy is user..softirq without idle and
    # iowait; steal (time a hypervisor gave to another guest) is not this machine's work
    fields = [int(v) for v in _PROC_STAT.read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:7]) - idle) / os.sysconf("SC_CLK_TCK")


def redis_cpu_seconds(client: RedisClient) -> float:
    """CPU seconds the Redis server has used (``INFO cpu``: user + system, its own and
    its children's, such as an append-only file rewrite)."""
    info = client.info("cpu")
    parts = ("used_cpu_user", "used_cpu_sys", "used_cpu_user_children", "used_cpu_sys_children")
    return sum(float(info.get(part, 0.0)) for part in parts)


class CpuMeter:
    """Machine and Redis CPU seconds between ``start()`` and ``stop()``, and the time
    Redis spent in each command (``INFO commandstats``)."""

    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self.machine: float | None = None
        self.redis = 0.0
        self.commands: dict[str, float] = {}

    def start(self) -> None:
        self._machine0 = machine_busy_seconds()
        self._redis0 = redis_cpu_seconds(self.client)
        self._commands0 = command_seconds(self.client)

    def stop(self) -> None:
        machine = machine_busy_seconds()
        self.machine = None if machine is None or self._machine0 is None else machine - self._machine0
        self.redis = redis_cpu_seconds(self.client) - self._redis0
        after = command_seconds(self.client)
        spent = {name: seconds - self._commands0.get(name, 0.0) for name, seconds in after.items()}
        self.commands = {name: seconds for name, seconds in spent.items() if seconds > 0}

    def per_order_us(self, orders: int) -> dict[str, Any]:
        """Microseconds of CPU per order: the whole machine's and Redis' share of it, and
        Redis' time per command (most first)."""
        by_command = sorted(self.commands.items(), key=lambda item: -item[1])
        return {
            "cpu_us_per_order": None if self.machine is None else round(self.machine / orders * 1e6, 1),
            "redis_cpu_us_per_order": round(self.redis / orders * 1e6, 1),
            "redis_us_per_order_by_command": {
                name: round(seconds / orders * 1e6, 2) for name, seconds in by_command
            },
        }


def command_seconds(client: RedisClient) -> dict[str, float]:
    """Seconds the Redis server has spent in each command since its statistics were last
    reset (``INFO commandstats``: a script's time includes the commands it calls, which
    are also counted on their own, and a ``MULTI``/``EXEC``'s is under ``exec``); empty
    for a Redis Cluster client, whose ``INFO`` answers per node."""
    stats = client.info("commandstats")
    seconds = {}
    for name, value in stats.items():
        if not (isinstance(name, str) and name.startswith("cmdstat_") and isinstance(value, dict)):
            return {}
        seconds[name.removeprefix("cmdstat_")] = float(value.get("usec", 0)) / 1e6
    return seconds


def process_tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds (user + system) of ``root`` and each of its live descendants, by pid
    (Linux ``/proc``; empty where there is none). What a benchmark's own processes
    spent, apart from whatever else runs on a shared machine."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # the command name may hold spaces and parentheses: the fields follow its last ")"
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    found: dict[int, float] = {}
    pending = [root]
    while pending:
        pid = pending.pop()
        if pid in times:
            found[pid] = times[pid]
            pending.extend(children.get(pid, []))
    return found


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two ``process_tree_cpu`` readings, by the processes
    alive at the second (one started meanwhile counts whole)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
