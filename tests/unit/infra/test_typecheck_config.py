"""The type check covers what is installed: mypy strict on every package of the wheel."""

from __future__ import annotations

import tomllib
from typing import Any

from tests.support.paths import ROOT as REPO


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_mypy_checks_every_package_the_wheel_installs_and_is_strict() -> None:
    config = pyproject()
    packages = {p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]}
    mypy = config["tool"]["mypy"]
    assert mypy.get("strict") is True
    assert set(mypy.get("files", [])) == packages


def test_no_mypy_override_turns_strictness_or_checking_off() -> None:
    for override in pyproject()["tool"]["mypy"].get("overrides", []):
        modules = override["module"]
        assert "strict" not in override, modules
        assert not override.get("ignore_errors", False), modules
        for module in modules if isinstance(modules, list) else [modules]:
            # Only third-party packages without type information may be imported untyped.
            assert module.split(".")[0] not in {"domain", "store", "workers", "schedules",
                                                "adapters"}, module
