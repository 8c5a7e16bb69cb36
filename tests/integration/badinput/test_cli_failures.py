"""What goes wrong around a command (the database, Redis, the data already there) ends in
one line naming what is wrong and what to do, exit 2, no traceback, nothing created and
nothing changed.

Each case runs the real command line in a child process (``python -m cli.main``, this
checkout first on the path), as a user would, so a traceback would be seen as one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from domain.commands import NUL_MESSAGE
from drills.servers import free_port
from store.engine import make_engine
from store.snapshot import differences
from tests.support.badinput import business_state
from tests.support.paths import ROOT
from tests.support.scenarios import VALID
from workers.scenario import ScenarioError, parse

SEEDED_LAST_CLOSED = "2026-02-28"  # conftest.seed closes the day before START


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    child["PYTHONPATH"] = str(ROOT)
    child.update(env or {})
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=cwd, env=child,
                          capture_output=True, text=True, timeout=180, check=False)


def refused(result: subprocess.CompletedProcess[str], *says: str) -> str:
    """The one line of a refusal (exit 2, no traceback), checked to say each of ``says``."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, output
    assert result.stdout.strip() == "", output
    for text in says:
        assert text in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- a database that is not there
REFUSING_A_MISSING_FILE = [
    ["cycle", "status"],
    ["cycle", "run", "--date", "2026-03-01"],
    ["cycle", "release", "--date", "2026-03-01"],
    ["report"],
    ["report", "--date", "2026-03-01"],
    ["explain", "u0000001"],
    ["repay", "--user", "u0000001", "--amount", "100", "--reference", "r-1"],
    ["limit", "recalc", "--user", "u0000001"],
]


@pytest.mark.parametrize("command", REFUSING_A_MISSING_FILE, ids=" ".join)
def test_a_command_on_a_database_file_that_does_not_exist_is_refused_and_creates_nothing(
        tmp_path: Path, command: list[str]) -> None:
    work = tmp_path / "work"
    line = refused(cli(*command, "--database-url", "sqlite:///missing.db", cwd=work),
                   "--database-url", "missing.db does not exist", "creditcycle seed")
    assert line.startswith("error: ")
    assert list(work.iterdir()) == []


def test_the_default_database_named_by_database_url_is_named_as_such(tmp_path: Path) -> None:
    work = tmp_path / "work"
    refused(cli("cycle", "status", cwd=work, env={"DATABASE_URL": "sqlite:///gone.db"}),
            "DATABASE_URL", "gone.db does not exist")
    assert list(work.iterdir()) == []


def test_a_database_file_without_creditcycle_tables_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "empty.db").touch()
    refused(cli("report", "--database-url", "sqlite:///empty.db", cwd=work),
            "has no creditcycle tables", "creditcycle migrate")
    assert (work / "empty.db").stat().st_size == 0
    assert sorted(p.name for p in work.iterdir()) == ["empty.db"]


def test_seed_and_migrate_create_a_database_file_that_does_not_exist(tmp_path: Path) -> None:
    work = tmp_path / "work"
    made = cli("seed", "--users", "3", "--start", "2026-03-01", "--database-url",
               "sqlite:///new.db", cwd=work)
    assert made.returncode == 0, made.stderr
    assert cli("migrate", "--database-url", "sqlite:///other.db", cwd=work).returncode == 0
    assert {"new.db", "other.db"} <= {p.name for p in work.iterdir()}


def test_a_database_file_in_a_directory_that_does_not_exist_is_refused(tmp_path: Path
                                                                       ) -> None:
    work = tmp_path / "work"
    refused(cli("seed", "--users", "3", "--database-url", "sqlite:///nowhere/new.db", cwd=work),
            "directory nowhere does not exist")
    assert list(work.iterdir()) == []


# ---------------------------------------------------------------- URLs this program cannot use
BAD_URLS = [
    ("postgres://app:secret@127.0.0.1/creditcycle", "write postgresql://"),
    ("mysql://app:secret@127.0.0.1/creditcycle", "mysql databases are not supported"),
    ("mysql+pymysql://app@127.0.0.1/creditcycle", "mysql databases are not supported"),
    ("postgresql+psycopg2://app@127.0.0.1/creditcycle", "'postgresql+psycopg2' is not installed"),
    ("creditcycle.db", "is not a database URL"),
    ("sqlite:/creditcycle.db", "is not a database URL"),
    ("sqlite://", "an in-memory SQLite database"),
]


@pytest.mark.parametrize("command", [["cycle", "status"], ["seed", "--users", "3"],
                                     ["migrate"]], ids=" ".join)
@pytest.mark.parametrize(("url", "says"), BAD_URLS, ids=[u for u, _ in BAD_URLS])
def test_a_database_url_this_program_cannot_use_is_refused_in_one_line(
        tmp_path: Path, command: list[str], url: str, says: str) -> None:
    work = tmp_path / "work"
    line = refused(cli(*command, "--database-url", url, cwd=work), "--database-url", says)
    assert "secret" not in line
    assert list(work.iterdir()) == []


def test_postgresql_refusing_connections_is_one_line_naming_the_server(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://app:secret@127.0.0.1:{port}/creditcycle"
    for command in (["cycle", "status"], ["seed", "--users", "3"]):
        line = refused(cli(*command, "--database-url", url, cwd=tmp_path / "work"),
                       "--database-url", f"127.0.0.1:{port}", "Connection refused",
                       "start the server or fix the URL")
        assert "secret" not in line


# ---------------------------------------------------------------- Redis
def test_redis_unreachable_is_one_line_naming_redis_url_and_nothing_changes(
        tmp_path: Path, seeded_sqlite: str) -> None:
    engine = make_engine(seeded_sqlite)
    before = business_state(engine)
    env = {"REDIS_URL": f"redis://:secret@127.0.0.1:{free_port()}/0"}
    for command in (["repay", "--user", "u0000001", "--amount", "100", "--reference", "r-1"],
                    ["cycle", "run", "--date", "2026-03-01"]):
        line = refused(cli(*command, "--database-url", seeded_sqlite, cwd=tmp_path, env=env),
                       "REDIS_URL", "cannot reach Redis", "Connection refused")
        assert "secret" not in line
    assert differences(before, business_state(engine)) == []


# ---------------------------------------------------------------- data already there
def test_seed_on_a_database_that_is_not_empty_is_refused_naming_it(
        tmp_path: Path, seeded_sqlite: str) -> None:
    engine = make_engine(seeded_sqlite)
    before = business_state(engine)
    refused(cli("seed", "--users", "5", "--start", "2026-03-01", "--database-url",
                seeded_sqlite, cwd=tmp_path),
            f"database {seeded_sqlite} is not empty", "users", "name a new file")
    assert differences(before, business_state(engine)) == []


def _scenario_file(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "story.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_scenario_run_into_a_database_that_is_not_empty_is_refused_naming_it(
        tmp_path: Path, seeded_sqlite: str) -> None:
    engine = make_engine(seeded_sqlite)
    before = business_state(engine)
    story = _scenario_file(tmp_path, VALID)
    refused(cli("scenario", "run", str(story), "--database-url", seeded_sqlite,
                "--out", str(tmp_path / "result.json"), cwd=tmp_path),
            f"database {seeded_sqlite} is not empty")
    assert not (tmp_path / "result.json").exists()
    assert differences(before, business_state(engine)) == []


def test_report_on_a_date_never_closed_is_refused_naming_the_last_closed_date(
        tmp_path: Path, seeded_sqlite: str) -> None:
    work = tmp_path / "work"
    refused(cli("report", "--date", "2026-03-05", "--database-url", seeded_sqlite, cwd=work),
            "--date", "2026-03-05 has not been closed", f"last closed date is "
            f"{SEEDED_LAST_CLOSED}")
    assert list(work.iterdir()) == []


def test_report_on_a_database_where_nothing_was_closed_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert cli("migrate", "--database-url", "sqlite:///fresh.db", cwd=work).returncode == 0
    refused(cli("report", "--date", "2026-03-05", "--database-url", "sqlite:///fresh.db",
                cwd=work), "--date", "no business date has been closed yet")
    assert [p.name for p in work.iterdir() if p.suffix == ".html"] == []


# ---------------------------------------------------------------- NUL in a name, on PostgreSQL
@pytest.mark.postgres
def test_a_nul_byte_in_a_name_is_refused_naming_the_field_and_never_printing_the_users(
        tmp_path: Path, fresh_postgres_url: str) -> None:
    data = json.loads(json.dumps(VALID))
    data["users"][1]["name"] = "Li\x00Si"
    story = _scenario_file(tmp_path, data)
    line = refused(cli("scenario", "run", str(story), "--database-url", fresh_postgres_url,
                       cwd=tmp_path), "users[1].name", "NUL")
    for user in VALID["users"]:
        assert user["phone"] not in line
        assert user["name"] not in line
    engine = make_engine(fresh_postgres_url)
    try:
        with engine.connect() as conn:
            assert inspect(conn).get_table_names() == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(("where", "field"), [
    (("users", 0, "name"), "users[0].name"),
    (("agencies", 1), "agencies[1]"),
    (("events", 1, "reference"), "events[1].reference"),
    (("events", 3, "reason"), "events[3].reason"),
])
def test_a_nul_byte_in_any_free_text_of_a_scenario_is_refused_naming_the_field(
        where: tuple[str | int, ...], field: str) -> None:
    data = json.loads(json.dumps(VALID))
    *path, last = where
    holder: Any = data
    for key in path:
        holder = holder[key]
    holder[last] = f"a\x00{holder[last]}"
    with pytest.raises(ScenarioError) as refused_with:
        parse(data)
    assert (refused_with.value.field, refused_with.value.message) == (field, NUL_MESSAGE)
