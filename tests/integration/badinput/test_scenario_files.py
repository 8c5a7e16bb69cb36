"""Invalid scenario files are refused naming the field: by ``parse``, and by the CLI with
exit code 2, no result file and no change to the database it was pointed at.

Generated cases (max_examples): 2,000 scenarios with one thing wrong through
``workers.scenario.parse``; 60 of them as JSON or YAML files through
``creditcycle scenario run``; 40 files that are not JSON at all.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cli.main import main
from store.engine import make_engine
from store.snapshot import differences
from tests.support.badinput import CASES, business_state
from tests.support.scenarios import VALID, bad_scenario
from workers.scenario import ScenarioError, parse, run_scenario

SLOW_OK = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]


def test_the_base_scenario_of_the_generated_cases_is_valid_and_runs() -> None:
    parse(VALID)
    result = run_scenario(VALID)
    assert result["ledger_balanced"] is True
    assert set(result["loans"]) == {"L1", "L2", "L3"}


@settings(max_examples=2000, deadline=None, suppress_health_check=SLOW_OK)
@given(bad_scenario())
def test_a_scenario_with_one_bad_field_is_refused_naming_the_field(
        case: tuple[dict[str, Any], str]) -> None:
    data, field = case
    with pytest.raises(ScenarioError) as err:
        parse(data)
    assert names(err.value.field, field), (err.value, data)
    assert err.value.message
    CASES["scenario: parse"] += 1


def names(named: str, field: str) -> bool:
    """``named`` is ``field``, or for a configuration value a part of it
    (``config.reminder_window.0``)."""
    return named == field or (field.startswith("config.") and named.startswith(field + "."))


def refused_field(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as err:
        parse(data)
    return err.value.field


def _as_file(data: dict[str, Any], directory: Path, fmt: str) -> Path | None:
    try:
        text = json.dumps(data, ensure_ascii=False) if fmt == "json" else yaml.safe_dump(
            data, allow_unicode=True)
        text.encode("utf-8")
    except (TypeError, ValueError, yaml.YAMLError):
        return None
    if fmt == "yaml" and yaml.safe_load(text) != data:
        return None
    path = directory / f"bad.{fmt}"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_cli_refuses_bad_scenario_files_with_exit_2_and_writes_nothing(
        tmp_path: Path, seeded_sqlite: str) -> None:
    engine = make_engine(seeded_sqlite)
    before = business_state(engine)
    out = tmp_path / "result.json"
    runner = CliRunner()

    @settings(max_examples=60, deadline=None, suppress_health_check=SLOW_OK, database=None)
    @given(bad_scenario(), st.sampled_from(["json", "yaml"]))
    def case(bad: tuple[dict[str, Any], str], fmt: str) -> None:
        data, field = bad
        path = _as_file(data, tmp_path, fmt)
        assume(path is not None)
        assert path is not None
        result = runner.invoke(main, ["scenario", "run", str(path), "--out", str(out),
                                      "--database-url", seeded_sqlite])
        assert result.exit_code == 2, (result.output, result.exception)
        named = refused_field(data)
        assert names(named, field)
        assert f"{path}: {named}: " in result.stderr, (field, result.stderr)
        assert not out.exists()
        CASES["scenario: cli"] += 1

    case()
    assert differences(before, business_state(engine)) == []


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return ValueError


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW_OK)
@given(st.text(max_size=60))
def test_a_scenario_file_that_is_not_a_json_object_is_refused_naming_it(text: str) -> None:
    value = _loads(text)
    assume(not isinstance(value, dict))
    with tempfile.TemporaryDirectory() as d:
        path, out = Path(d) / "bad.json", Path(d) / "out.json"
        path.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(main, ["scenario", "run", str(path), "--out", str(out)])
        assert result.exit_code == 2, result.output
        expected = "file" if value is ValueError else "scenario"
        assert f"bad.json: {expected}: " in result.stderr, result.stderr
        assert not out.exists()
    CASES["scenario: cli, not a json object"] += 1
