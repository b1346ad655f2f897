"""``--retention-seconds`` and ``--bucket-seconds``: the commands that start SKU owners
(``serve``, ``up``, ``demo``) take them, defaulting to ``FLASHSTOCK_RETENTION_SECONDS`` /
``FLASHSTOCK_BUCKET_SECONDS`` (``actors.infra.settings``), and refuse a window an operator
should not run with (``retention_problem``) before anything starts."""

from __future__ import annotations

import argparse

from actors.infra.settings import current_settings, retention_problem

OPTION_NAMES = ("--retention-seconds", "--bucket-seconds")


def add_retention_options(parser: argparse.ArgumentParser, *, from_settings: bool = True) -> None:
    """Add both options; their defaults are this process's settings, or None (``up``: the
    deployment's settings fill what is not given)."""
    settings = current_settings() if from_settings else None
    # with settings, the help formatter appends the value in force; without, say where it comes from
    sources = (
        ("", "")
        if settings
        else (
            " (default: FLASHSTOCK_RETENTION_SECONDS, else 604800)",
            " (default: FLASHSTOCK_BUCKET_SECONDS, else 3600)",
        )
    )
    parser.add_argument(
        OPTION_NAMES[0],
        type=float,
        default=settings.retention_seconds if settings else None,
        help="seconds a settled order line's decision stays retrievable after its line bucket "
        "ends; the ledger log and the channels' order index keep the same window "
        "(FLASHSTOCK_RETENTION_SECONDS; 604800 = 7 days, longer than the platforms' redelivery "
        f"horizons; at least 60){sources[0]}",
    )
    parser.add_argument(
        OPTION_NAMES[1],
        type=int,
        default=settings.bucket_seconds if settings else None,
        help="seconds of commit time per line bucket, the unit that expires "
        f"(FLASHSTOCK_BUCKET_SECONDS; keep it for the life of a namespace's data){sources[1]}",
    )


def retention_option_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the options as given (None when fine or not given)."""
    if args.retention_seconds is None or args.bucket_seconds is None:
        return None
    return retention_problem(args.retention_seconds, args.bucket_seconds, OPTION_NAMES)
