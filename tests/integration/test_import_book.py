"""``creditcycle import DIR`` (SPEC 13): a book from CSV, validated whole, idempotent,
its opening amounts as opening journals so the ledger proof holds from the first night."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from cli.main import main
from store import schema as s
from store.ledger_checks import check_all
from tests.support.helpers import changed_tables, migrated_engine, snapshot
from workers.bank import SimulatedBank
from workers.local import close_date
from workers.runtime import load_config

BOOK = Path(__file__).resolve().parents[2] / "examples" / "book"
FIRST = date(2026, 3, 1)


@pytest.fixture
def engine(db_url: str) -> Engine:
    return migrated_engine(db_url)


def _import(url: str, directory: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["import", str(directory), "--date", FIRST.isoformat(),
                                       "--database-url", url], env={"REDIS_URL": None})
    return result.exit_code, result.stdout, result.stderr


def test_the_example_book_imports_once_and_its_first_night_closes_with_the_ledger_balanced(
        engine: Engine, db_url: str) -> None:
    code, out, err = _import(db_url, BOOK)
    assert code == 0, err
    assert '"users": 3, "loans": 2' in out
    before = snapshot(engine)
    assert _import(db_url, BOOK)[0] == 0
    assert changed_tables(before, snapshot(engine)) == []
    with engine.connect() as conn:
        assert check_all(conn) == []
        kinds = sorted(conn.execute(select(s.journals.c.key)).scalars())
        paid = conn.execute(select(s.installments.c.loan_id, s.installments.c.paid_principal)
                            .order_by(s.installments.c.loan_id, s.installments.c.no)).all()
    assert kinds == ["opening:L1", "opening:L2", "opening:fund:u3", "opening:wallet:u1"]
    assert [tuple(p) for p in paid] == [("L1", 39406), ("L1", 0), ("L1", 0),
                                        ("L2", 0), ("L2", 0), ("L2", 0)]
    close_date(engine, FIRST, load_config(), SimulatedBank(engine))
    with engine.connect() as conn:
        assert check_all(conn) == []
        statuses = dict(conn.execute(select(s.loans.c.id, s.loans.c.status)).all())
    assert statuses == {"L1": "active", "L2": "overdue"}  # L2's 02-20 installment unpaid


@pytest.mark.parametrize(("file", "old", "new", "where"), [
    ("loans.csv", "L2,u2,90000", "L2,u2,-5", "loans.csv:3:3"),
    ("users.csv", "u3,Wang Wu,,2001-02-28", "u3,Wang Wu,,2001-02-30", "users.csv:4:4"),
    ("balances.csv", "u3,0,20000,0", "u9,0,20000,0", "balances.csv:4:1"),
    ("loans.csv", "2026-01-20,0", "2026-01-20,3", "loans.csv:3:7"),
    ("users.csv", "tok_u1_card", "4111111111111111", "users.csv:2:7"),
])
def test_a_bad_cell_is_named_by_file_line_and_column_and_nothing_is_written(
        engine: Engine, db_url: str, tmp_path: Path, file: str, old: str, new: str,
        where: str) -> None:
    book = tmp_path / "book"
    shutil.copytree(BOOK, book)
    path = book / file
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))
    before = snapshot(engine)
    code, _, err = _import(db_url, book)
    assert code == 2 and err.startswith(f"error: {where}"), err
    assert changed_tables(before, snapshot(engine)) == []
