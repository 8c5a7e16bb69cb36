"""tests/ is grouped by speed (unit, integration, e2e) and shadows no package of the checkout.

Reads the tree with `ast`; see tests/conftest.py for what each group may use.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import ROOT

TESTS = ROOT / "tests"
GROUPS = ("unit", "integration", "e2e")


def _folders() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*") if p.is_dir() and p.name != "__pycache__")


def _top_level_packages() -> set[str]:
    return {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests"}


def _imports_of(path: Path) -> set[str]:
    """Absolute names of the modules `path` imports, relative imports resolved."""
    package = list(path.relative_to(ROOT).parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = [*base, *(node.module.split(".") if node.module else [])]
            found |= ({".".join(module)} if node.module
                      else {".".join([*module, a.name]) for a in node.names})
    return found


def test_no_folder_under_tests_is_named_like_a_package_of_the_checkout() -> None:
    packages = _top_level_packages()
    assert {"domain", "store", "workers", "drills"} <= packages
    clashes = [str(p.relative_to(ROOT)) for p in _folders() if p.name in packages]
    assert clashes == []


def test_every_folder_under_tests_is_a_package_so_none_is_put_on_sys_path() -> None:
    missing = [str(p.relative_to(ROOT)) for p in [TESTS, *_folders()]
               if not (p / "__init__.py").is_file()]
    assert missing == []


def test_test_files_sit_in_a_speed_group_and_shared_code_in_tests_support() -> None:
    allowed = {*GROUPS, "support"}
    outside = [str(p.relative_to(ROOT)) for p in TESTS.rglob("*.py")
               if p.parent != TESTS and p.relative_to(TESTS).parts[0] not in allowed]
    assert outside == []
    assert sorted(p.name for p in TESTS.glob("*.py")) == ["__init__.py", "conftest.py"]


def test_no_test_module_imports_from_another_groups_folder() -> None:
    crossing = []
    for group in GROUPS:
        others = [f"tests.{g}" for g in GROUPS if g != group]
        for path in sorted((TESTS / group).rglob("*.py")):
            crossing += [f"{path.relative_to(ROOT)} imports {name}"
                         for name in sorted(_imports_of(path))
                         if any(name == o or name.startswith(o + ".") for o in others)]
    assert crossing == []


def test_the_import_check_resolves_relative_and_absolute_imports() -> None:
    probe = TESTS / "unit" / "infra" / "test_tests_layout.py"
    assert "tests.support.paths" in _imports_of(probe)
    assert "tests.unit.infra.test_docs" not in _imports_of(probe)
    resolved = _imports_of(TESTS / "integration" / "test_ledger_proofs.py")
    assert "tests.integration.cycle_driver" in resolved
