"""Which Redis persistence settings keep acknowledged decisions, and what flashstock says."""

from __future__ import annotations

import pytest

from actors.infra.durability import Level, judge_durability, startup_line


def test_aof_with_fsync_always_is_durable_and_needs_no_line() -> None:
    verdict = judge_durability("yes", "always", allow_volatile=False)

    assert verdict.level is Level.DURABLE
    assert startup_line(verdict, allow_volatile=False) is None


def test_aof_with_fsync_everysec_runs_with_a_warning_about_the_last_second() -> None:
    verdict = judge_durability("yes", "everysec", allow_volatile=False)

    assert verdict.level is Level.WARNING
    assert not verdict.refused
    assert "appendfsync everysec" in verdict.message
    assert "up to a second of acknowledged decisions" in verdict.message
    assert startup_line(verdict, allow_volatile=False) == verdict.message


@pytest.mark.parametrize(
    ("appendonly", "appendfsync", "said"),
    [
        ("no", "always", "appendonly no"),
        ("no", "everysec", "without the append-only file"),
        ("yes", "no", "appendfsync no"),
        (None, None, "did not answer CONFIG GET"),
    ],
)
def test_redis_without_a_synced_aof_is_refused_saying_what_was_found(
    appendonly: str | None, appendfsync: str | None, said: str
) -> None:
    verdict = judge_durability(appendonly, appendfsync, allow_volatile=False)

    assert verdict.refused
    assert verdict.message.startswith("refusing to run: ")
    assert said in verdict.message
    assert "--allow-volatile-redis" in verdict.message
    assert "\n" not in verdict.message


@pytest.mark.parametrize(("appendonly", "appendfsync"), [("no", "always"), ("yes", "no"), (None, None)])
def test_allow_volatile_runs_anyway_and_says_so(appendonly: str | None, appendfsync: str | None) -> None:
    verdict = judge_durability(appendonly, appendfsync, allow_volatile=True)

    assert verdict.level is Level.VOLATILE
    line = startup_line(verdict, allow_volatile=True)
    assert line is not None
    assert line.startswith("--allow-volatile-redis: running anyway; ")


def test_allow_volatile_is_said_on_start_even_on_a_durable_redis() -> None:
    verdict = judge_durability("yes", "always", allow_volatile=True)

    assert verdict.level is Level.DURABLE
    assert startup_line(verdict, allow_volatile=True) == (
        f"--allow-volatile-redis is set (not needed here): {verdict.message}"
    )
