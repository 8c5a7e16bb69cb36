"""Invalid scenario files are refused with the field named, exit code 2 and no result file."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import ROOT as REPO
from workers.scenario import ScenarioError, run_scenario

VALID: dict[str, Any] = {
    "description": "A small valid story; each case below breaks one field of it.",
    "users": [
        {
            "id": "u1",
            "name": "Wang Wu",
            "phone": "13700000011",
            "score": 700,
            "limit": 2500000,
            "wallet": 0,
            "card": 50000,
            "fund": 0,
        }
    ],
    "loans": [
        {
            "id": "L1",
            "user": "u1",
            "principal": 90000,
            "annual_rate_bp": 0,
            "term_months": 3,
            "disbursed": "2026-01-15",
        }
    ],
    "events": [
        {"date": "2026-02-14", "user": "u1", "kind": "wallet_topup", "amount": 1000},
        {"date": "2026-02-15", "user": "u1", "kind": "payment"},
    ],
    "run": {"from": "2026-02-14", "to": "2026-02-15"},
}


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target.setdefault(key, {}) if isinstance(key, str) else target[key]
        target[path[-1]] = value

    return mutate


def _delete_run_to(data: dict[str, Any]) -> None:
    del data["run"]["to"]


def _add_timeout_event(data: dict[str, Any]) -> None:
    data["events"].append(
        {"date": "2026-02-15", "user": "u1", "kind": "card_timeout", "resolves": "maybe"}
    )


# (test id, mutation of VALID, the field the error must name)
BAD_INPUTS = [
    ("score-is-not-a-number", _set(("users", 0, "score"), "high"), "users[0].score"),
    ("negative-principal", _set(("loans", 0, "principal"), -90000), "loans[0].principal"),
    ("zero-term", _set(("loans", 0, "term_months"), 0), "loans[0].term_months"),
    ("unknown-event-kind", _set(("events", 1, "kind"), "teleport"), "events[1].kind"),
    ("misspelled-config-key", _set(("config", "grace_dayz"), 1), "config.grace_dayz"),
    ("config-value-of-wrong-type", _set(("config", "grace_days"), "one"), "config.grace_days"),
    ("loan-of-unknown-user", _set(("loans", 0, "user"), "u9"), "loans[0].user"),
    ("event-of-unknown-user", _set(("events", 0, "user"), "ghost"), "events[0].user"),
    ("impossible-date", _set(("loans", 0, "disbursed"), "2026-02-30"), "loans[0].disbursed"),
    ("event-date-not-a-date", _set(("events", 1, "date"), "tomorrow"), "events[1].date"),
    ("run-without-end", _delete_run_to, "run.to"),
    ("negative-top-up", _set(("events", 0, "amount"), -1000), "events[0].amount"),
    ("fractional-fen", _set(("users", 0, "wallet"), 10.5), "users[0].wallet"),
    (
        "consent-not-a-boolean",
        _set(("users", 0, "consent"), {"fund": "maybe"}),
        "users[0].consent.fund",
    ),
    ("unknown-timeout-outcome", _add_timeout_event, "events[2].resolves"),
]


def broken(mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    mutate(data)
    return data


def run_cli(scenario: Path, out: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "creditcycle"
    command = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())"]
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*command, "scenario", "run", str(scenario), "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_valid_base_story_runs_through_the_cli(tmp_path: Path) -> None:
    scenario, out = tmp_path / "valid.json", tmp_path / "result.json"
    scenario.write_text(json.dumps(VALID))
    proc = run_cli(scenario, out)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["ledger_balanced"] is True
    # 02-15: 30000 from the card (90000 at 0% over 3 months), the top-up of 1000 first
    assert result["users"]["u1"]["wallet"] == 0
    assert result["users"]["u1"]["card"] == 50000 - (30000 - 1000)
    assert "13700000011" not in out.read_text()


@pytest.mark.parametrize(("mutate", "field"), [pytest.param(m, f, id=i) for i, m, f in BAD_INPUTS])
def test_an_invalid_scenario_file_exits_2_naming_the_field_and_writes_nothing(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    scenario, out = tmp_path / "bad.json", tmp_path / "result.json"
    scenario.write_text(json.dumps(broken(mutate)))
    proc = run_cli(scenario, out)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert field in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_a_file_that_is_not_json_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    scenario, out = tmp_path / "bad.json", tmp_path / "result.json"
    scenario.write_text('{"users": [')
    proc = run_cli(scenario, out)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(("mutate", "field"), [pytest.param(m, f, id=i) for i, m, f in BAD_INPUTS])
def test_run_scenario_raises_a_scenario_error_naming_the_field(
    mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        run_scenario(broken(mutate))
    assert field in str(caught.value)
