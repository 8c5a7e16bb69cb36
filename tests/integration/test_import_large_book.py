"""``creditcycle import DIR`` on a generated book larger than a batch (SPEC 13): written
in several batches (COPY on PostgreSQL), the ledger proof holds, a second import and a
partly stored book change only what is new, a bad cell on the last line writes nothing."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from cli.main import main
from drills.book_gen import write_book
from store import schema as s
from store.ledger_checks import check_all
from tests.support.helpers import changed_tables, migrated_engine, snapshot
from workers import book_import

FIRST = date(2026, 3, 1)
USERS = 1_200


@pytest.fixture
def engine(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setattr(book_import, "BATCH", 500)  # three batches of each file
    return migrated_engine(db_url)


def _import(url: str, directory: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["import", str(directory), "--date", FIRST.isoformat(),
                                       "--database-url", url], env={"REDIS_URL": None})
    return result.exit_code, result.stdout, result.stderr


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_book_of_several_batches_imports_whole_with_the_ledger_balanced_and_once(
        engine: Engine, db_url: str, tmp_path: Path) -> None:
    written = write_book(tmp_path / "book", USERS, FIRST)
    code, out, err = _import(db_url, written.directory)
    assert code == 0, err
    assert json.loads(out)["users"] == USERS and json.loads(out)["loans"] == USERS
    with engine.connect() as conn:
        assert check_all(conn) == []
        terms = conn.execute(select(func.sum(s.loans.c.term_months))).scalar_one()
        wallets = conn.execute(select(func.sum(s.users.c.wallet))).scalar_one()
    assert _count(engine, s.installments) == terms
    assert wallets > 0
    assert _count(engine, s.sim_bank_accounts) == USERS
    before = snapshot(engine)
    code, out, err = _import(db_url, written.directory)
    assert code == 0, err
    assert json.loads(out)["already_stored"] == 2 * USERS
    assert changed_tables(before, snapshot(engine)) == []


def test_a_partly_stored_book_brings_in_only_the_users_and_loans_not_stored(
        engine: Engine, db_url: str, tmp_path: Path) -> None:
    full = write_book(tmp_path / "full", USERS, FIRST).directory
    half = tmp_path / "half"
    half.mkdir()
    for name in ("users.csv", "loans.csv"):  # the header and the first 700 users' rows
        lines = (full / name).read_text().splitlines(keepends=True)
        (half / name).write_text("".join(lines[:701]))
    assert _import(db_url, half)[0] == 0
    code, out, err = _import(db_url, full)
    assert code == 0, err
    assert json.loads(out) == {"users": USERS - 700, "loans": USERS - 700,
                               "already_stored": 1400, "first_open_day": "2026-03-01"}
    with engine.connect() as conn:
        assert check_all(conn) == []
    assert _count(engine, s.loans) == USERS


def test_a_bad_cell_on_the_last_line_of_a_large_book_writes_nothing(
        engine: Engine, db_url: str, tmp_path: Path) -> None:
    book = write_book(tmp_path / "book", USERS, FIRST).directory
    loans = (book / "loans.csv").read_text().splitlines(keepends=True)
    cells = loans[-1].split(",")
    cells[2] = "-5"
    loans[-1] = ",".join(cells)
    (book / "loans.csv").write_text("".join(loans))
    before = snapshot(engine)
    code, _, err = _import(db_url, book)
    assert code == 2 and err.startswith(f"error: loans.csv:{USERS + 1}:3: principal"), err
    assert changed_tables(before, snapshot(engine)) == []


def test_a_byte_that_is_not_utf8_late_in_a_large_file_is_named_by_its_line(
        engine: Engine, db_url: str, tmp_path: Path) -> None:
    book = write_book(tmp_path / "book", USERS, FIRST).directory
    users = (book / "users.csv").read_bytes().splitlines(keepends=True)
    users[1000] = users[1000].replace(b"User", b"Us\xffer")
    (book / "users.csv").write_bytes(b"".join(users))
    before = snapshot(engine)
    code, _, err = _import(db_url, book)
    assert code == 2 and err.startswith("error: users.csv:1001: not UTF-8"), err
    assert changed_tables(before, snapshot(engine)) == []
