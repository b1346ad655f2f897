"""The optional parts of flashstock: which commands need packages beyond the service's
(``pip install -e .``), and the one line a command prints when they are missing."""

from __future__ import annotations

import importlib.util

#: what each command needs beyond the service, by its name on the command line: the extra
#: of pyproject.toml that brings it and the import names the command uses from it (psycopg
#: is left out of ``bench``: without it the row-lock contender uses SQLite)
COMMAND_EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "simulate": ("sim", ("matplotlib", "requests", "tqdm")),
    "replay": ("sim", ("pandas",)),
    "bench": ("bench", ("requests", "tqdm")),
}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module blocked in sys.modules
        return False


def missing_extra(command: str) -> str | None:
    """The line that tells how to install what ``command`` lacks; None when nothing is missing."""
    if command not in COMMAND_EXTRAS:
        return None
    extra, modules = COMMAND_EXTRAS[command]
    missing = [module for module in modules if not installed(module)]
    if not missing:
        return None
    return (
        f"flashstock {command}: needs the '{extra}' extra ({', '.join(missing)} not installed): "
        f"pip install -e '.[{extra}]'"
    )
