"""Whether a Redis keeps what flashstock acknowledges: the rule, without I/O.

"Acknowledged means durable" holds only when Redis writes every commit to its
append-only file (AOF) before it answers (``appendfsync always``), or at most a second
later (``everysec``: a power loss can take that last second). Without the AOF
(``appendonly no``), or with ``appendfsync no`` (the kernel flushes when it likes), a
Redis restart or a power loss drops decisions callers were told are final, so flashstock
refuses such a Redis unless the operator says, with ``--allow-volatile-redis``, that
losing them is acceptable (a demo, a throw-away test). ``actors.infra.runtime`` reads
the settings (``CONFIG GET``) and applies the verdict.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

ALLOW_VOLATILE_OPTION = "--allow-volatile-redis"
#: the ``appendfsync`` values that keep acknowledged decisions on disk (everysec: all but
#: the last second of them)
DURABLE_FSYNC = ("always", "everysec")


class Level(enum.Enum):
    DURABLE = "durable"  # every acknowledged decision is on disk
    WARNING = "warning"  # durable up to the last second (everysec)
    VOLATILE = "volatile"  # not durable, run anyway: --allow-volatile-redis
    REFUSED = "refused"  # not durable (or unknown): do not run


@dataclass(frozen=True)
class Durability:
    """The verdict on one Redis: its level and one line that says what was found."""

    level: Level
    message: str
    appendonly: str | None
    appendfsync: str | None

    @property
    def refused(self) -> bool:
        return self.level is Level.REFUSED


def judge_durability(appendonly: str | None, appendfsync: str | None, *, allow_volatile: bool) -> Durability:
    """The verdict on a Redis whose ``CONFIG GET`` answered ``appendonly`` and
    ``appendfsync`` (None for both when it refused the command, as managed services that
    rename ``CONFIG`` do). Durable: ``appendonly yes`` with ``appendfsync always``; a
    warning with ``everysec`` (up to one second of acknowledged decisions lost on a power
    loss); anything else, or unknown settings, is refused unless ``allow_volatile``, which
    turns the refusal into a line saying what can be lost."""
    found = f"appendonly {appendonly}, appendfsync {appendfsync}"
    if appendonly == "yes" and appendfsync == "always":
        return Durability(
            Level.DURABLE,
            f"Redis keeps an append-only file ({found}): every acknowledged decision is on disk",
            appendonly,
            appendfsync,
        )
    if appendonly == "yes" and appendfsync == "everysec":
        return Durability(
            Level.WARNING,
            f"Redis keeps an append-only file with appendfsync everysec ({found}): a power loss "
            "can lose up to a second of acknowledged decisions; appendfsync always loses none",
            appendonly,
            appendfsync,
        )
    if appendonly is None or appendfsync is None:
        problem = (
            "Redis did not answer CONFIG GET appendonly/appendfsync (managed services rename "
            "or forbid CONFIG), so flashstock cannot tell whether acknowledged decisions are "
            "kept on disk"
        )
    elif appendonly != "yes":
        problem = (
            f"Redis runs without the append-only file ({found}): a Redis restart loses acknowledged decisions"
        )
    else:
        problem = (
            f"Redis writes its append-only file when the kernel flushes it ({found}): a power "
            "loss can lose acknowledged decisions"
        )
    if allow_volatile:
        return Durability(
            Level.VOLATILE,
            f"{ALLOW_VOLATILE_OPTION}: running anyway; {problem}",
            appendonly,
            appendfsync,
        )
    return Durability(
        Level.REFUSED,
        f"refusing to run: {problem}; set appendonly yes with appendfsync always (or everysec), "
        f"or pass {ALLOW_VOLATILE_OPTION} to accept losing them",
        appendonly,
        appendfsync,
    )


def startup_line(durability: Durability, *, allow_volatile: bool) -> str | None:
    """The line a command prints as it starts: always when ``allow_volatile`` was given
    (so a volatile deployment says so on every start), and on any Redis that is not
    fully durable; None for a durable Redis without the option."""
    if allow_volatile and durability.level is not Level.VOLATILE:
        return f"{ALLOW_VOLATILE_OPTION} is set (not needed here): {durability.message}"
    if allow_volatile or durability.level is not Level.DURABLE:
        return durability.message
    return None
