"""A chaos run starts from a working directory without an earlier run's state."""

from __future__ import annotations

from pathlib import Path

from drills.chaos import RUN_STATE, fresh_workdir


def test_a_second_chaos_run_does_not_inherit_the_first_runs_bank_store_or_sink_files(
        tmp_path: Path) -> None:
    workdir = tmp_path / "chaos-results"
    (workdir / "bank").mkdir(parents=True)
    (workdir / "bank" / "bank.sqlite3").write_text("the first run's debits")
    (workdir / "sink" / "agencies").mkdir(parents=True)
    (workdir / "sink" / "agencies" / "batch-1.json").write_text("[]")
    (workdir / "worker-1.log").write_text("kept")
    fresh_workdir(workdir)
    assert sorted(p.name for p in workdir.iterdir()) == ["worker-1.log"]
    assert {"bank", "sink"} <= set(RUN_STATE)
    fresh_workdir(tmp_path / "new")  # a directory that is not there yet is made
    assert (tmp_path / "new").is_dir()
