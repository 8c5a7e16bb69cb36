"""The benchmark as something to watch and to profile, the parts that need no server:
its phases on a terminal and in a log, the sizes it accepts, the seeding's statement
names, the CPU it reads from /proc and the profile's table."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from cli.main import main
from drills import bench_progress
from drills.bench import bench
from drills.bench_figures import BankSplit
from drills.bench_profile import (
    Profile,
    Statement,
    StepProfile,
    TableChanges,
    process_cpu_s,
)
from drills.bench_progress import Phases
from drills.bench_seed import statement_name


def _log() -> tuple[Phases, io.StringIO]:
    out = io.StringIO()
    return Phases(Console(file=out, width=200)), out


def test_without_a_terminal_each_phase_prints_one_line_with_its_seconds() -> None:
    phases, out = _log()
    with phases:
        with phases.phase("seed main (1,000 users)") as ph:
            ph.update("INSERT INTO users")
            ph.update("INSERT INTO loans")
            ph.end("seeded")
        with phases.phase("copies main", total=2) as ph:
            ph.update("bench_main_0", completed=0)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("bench: seed main (1,000 users): seeded (")
    assert lines[1].startswith("bench: copies main: bench_main_0 (") and lines[1].endswith("s)")


def test_without_a_terminal_a_long_phase_says_where_it_is_now_and_then(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_progress, "QUIET_S", 0.0)
    phases, out = _log()
    with phases, phases.phase("seed main") as ph:
        ph.update("INSERT INTO users")
        ph.update("INSERT INTO installments")
    lines = out.getvalue().splitlines()
    assert lines[:2] == [line for line in lines[:2] if "so far)" in line], lines
    assert "INSERT INTO installments" in lines[1]
    assert len(lines) == 3


def test_on_a_terminal_each_phase_draws_a_bar_that_ends_with_its_detail() -> None:
    out = io.StringIO()
    phases = Phases(Console(file=out, force_terminal=True, width=160))
    assert phases.bar is not None
    with phases, phases.phase("night main 1/1", total=8) as ph:
        ph.update("deduct 3/8 chunks", completed=0, total=8)
        time.sleep(0.2)
        ph.end("closed")
    text = out.getvalue()
    assert "night main 1/1: deduct 3/8 chunks" in text
    assert "night main 1/1: closed (" in text
    assert "8/8" in text  # ended full


def test_a_phase_shown_to_nobody_prints_nothing() -> None:
    out = io.StringIO()
    phases = Phases(Console(file=out), show=False)
    with phases, phases.phase("seed") as ph:
        ph.update("x")
    assert out.getvalue() == ""


def test_the_bench_takes_five_million_users_and_refuses_more_naming_the_option() -> None:
    users = next(p for p in main.commands["bench"].params if p.name == "users")
    assert users.type.convert(5_000_000, users, None) == 5_000_000
    result = CliRunner().invoke(main, ["bench", "--users", "5000001"])
    assert result.exit_code == 2
    assert "--users" in result.output and "5000000" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["bench", "--size", "6000000"])
    assert result.exit_code == 2 and "--size" in result.output


def test_the_bench_function_refuses_a_size_beyond_five_million_before_it_starts_anything(
        tmp_path: Path) -> None:
    out = tmp_path / "results"
    with pytest.raises(ValueError, match=r"users: 5,000,001 is outside 1,000\.\.5,000,000"):
        bench(1000, sizes=(5_000_001,), out_dir=out)
    assert not out.exists()


@pytest.mark.parametrize(("sql", "name"), [
    ("\n  INSERT INTO users (id, name) SELECT ...", "INSERT INTO users"),
    ("CREATE UNLOGGED TABLE bench_loans AS SELECT 1", "CREATE UNLOGGED TABLE bench_loans"),
    ("COPY bench_template FROM STDIN", "COPY bench_template"),
    ("VACUUM (ANALYZE)", "VACUUM"),
    ("\n            UPDATE loans l SET next_due = m.due", "UPDATE loans"),
])
def test_each_seeding_statement_is_named_by_what_it_does(sql: str, name: str) -> None:
    assert statement_name(sql) == name


def test_the_cpu_of_a_process_is_read_from_proc_and_a_gone_process_counts_nothing() -> None:
    before = process_cpu_s([os.getpid()])
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert process_cpu_s([os.getpid()]) - before >= 0.2
    assert process_cpu_s([2 ** 22 + 12345]) == 0.0  # above the kernel's pid_max


def test_a_profile_reads_as_a_table_of_steps_tables_and_statements() -> None:
    profile = Profile("main", 10_000, [
        StepProfile("deduct", 0.9, 0.2, 0.19, 0.41, 0.02,
                    [Statement("UPDATE bank_debits SET status=$1", 668, 29.6, 668, 0.0)]),
        StepProfile("limit", 0.6, 0.3, 0.15, 0.25, 0.0, []),
    ], [TableChanges("users", 0, 9_386, 274)], BankSplit(1.74, 0.58, 8))
    text = profile.text()
    assert "deduct" in text and "limit" in text
    assert "bank calls 0.58s (33%, 8 calls)" in text
    assert "users" in text and "9,386" in text and "3%" in text
    assert "-- deduct: top statements by total time" in text
    assert "-- limit" not in text  # a step without statements has no list
    data = profile.as_dict()
    assert data["steps"][0]["statements"][0]["mean_ms"] == pytest.approx(0.044, abs=1e-3)
    assert data["tables"][0]["hot_share"] == pytest.approx(0.029, abs=1e-3)
    assert data["bank"]["share"] == pytest.approx(0.333, abs=1e-3)


def test_a_statement_reads_on_one_line_and_each_chunks_temporary_table_as_one_name() -> None:
    from drills.bench_profile import _short

    assert _short("COPY bulk_users_58 (id,\n   credit_limit) FROM STDIN") == \
        "COPY bulk_users_N (id, credit_limit) FROM STDIN"
    assert _short("INSERT INTO limit_events SELECT * FROM bulk_limit_events_6") == \
        "INSERT INTO limit_events SELECT * FROM bulk_limit_events_N"
    assert len(_short("SELECT " + "x, " * 100)) == 110
