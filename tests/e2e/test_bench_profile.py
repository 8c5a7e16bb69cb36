"""``creditcycle bench --profile`` on a small portfolio: PostgreSQL's statement time and
the processes' CPU charged to the steps that spent them, the bank calls' share of
deduct, the HOT updates per table; written next to bench.json. No timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drills.bench import bench

pytestmark = pytest.mark.drills


def test_a_profiled_night_charges_statements_and_cpu_to_its_steps_and_writes_them(
        tmp_path: Path) -> None:
    runs = bench(10_000, scaling=False, out_dir=tmp_path, chunk_size=2500, profile=True,
                 show=False)
    assert runs[0].profile == "profile-main.txt"
    text = (tmp_path / "profile-main.txt").read_text()
    assert "-- deduct: top statements by total time" in text
    data = json.loads((tmp_path / "profile-main.json").read_text())
    steps = {p["step"]: p for p in data["steps"]}
    assert {"deduct", "overdue", "limit"} <= set(steps)
    for name in ("deduct", "overdue", "limit"):
        step = steps[name]
        assert step["wall_s"] > 0 and step["pg_exec_s"] > 0, step
        assert step["workers_cpu_s"] > 0 and step["pg_cpu_s"] > 0, step
        assert step["statements"], step
    # the limit step writes users and the deduct step the bank's debits, each in its own step
    assert any("UPDATE users" in s["query"] for s in steps["limit"]["statements"])
    deduct = [s["query"] for s in steps["deduct"]["statements"]]  # the top 8 by time
    assert any("bank_debits" in q or "installments" in q for q in deduct), deduct
    assert not any("limit_events" in q for q in deduct), deduct
    assert steps["deduct"]["bank_sim_cpu_s"] > 0  # the simulator answered over HTTP
    tables = {t["table"]: t for t in data["tables"]}
    assert tables["users"]["updated"] > 0
    assert 0 <= tables["users"]["hot_updated"] <= tables["users"]["updated"]
    assert 0 < data["bank"]["share"] <= 1 and data["bank"]["calls"] > 0
    results = json.loads((tmp_path / "bench.json").read_text())
    assert results["runs"][0]["profile"] == "profile-main.txt"
