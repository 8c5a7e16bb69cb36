"""``creditcycle import DIR`` into an empty book on PostgreSQL (SPEC 13), the fast path:
the keys, indexes and foreign keys of loans, installments, journals and postings are
dropped in the import's transaction and made again after the COPY. The tables then
are what the migrations make, the rows what the batch path writes, and a failure
leaves the book and its definitions as they were."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text

from cli.main import main
from domain import book as rules
from drills.book_gen import write_book
from drills.servers import PostgresServer
from store import bulk_load
from store import schema as s
from store.ledger_checks import check_all
from tests.support.helpers import changed_tables, migrated_engine, snapshot
from workers import book_import
from workers.bank import SimulatedBank
from workers.local import close_date
from workers.runtime import load_config

BOOK = Path(__file__).resolve().parents[2] / "examples" / "book"
FIRST = date(2026, 3, 1)
USERS = 1_200


@pytest.fixture
def engine(fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setattr(book_import, "BATCH", 500)  # several batches of each file
    monkeypatch.setattr(rules, "MARK_EVERY", 300)  # loans.csv in two parts
    engine = migrated_engine(fresh_postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def migrated(postgres_server: PostgresServer) -> Iterator[Engine]:
    """A second database, made by the migrations alone: the definitions to compare with."""
    url = postgres_server.create_database()
    engine = migrated_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def fast_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry for each time the fast path made the keys and indexes again."""
    runs: list[int] = []
    made = bulk_load.create_statements

    def counted(conn: Any) -> list[str]:
        runs.append(1)
        return made(conn)

    monkeypatch.setattr(bulk_load, "create_statements", counted)
    return runs


def _import(engine: Engine, directory: Path) -> tuple[int, str, str]:
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["import", str(directory), "--date", FIRST.isoformat(),
                                       "--database-url", url], env={"REDIS_URL": None})
    return result.exit_code, result.stdout, result.stderr


def definitions(engine: Engine) -> Rows:
    """Every table's columns, constraints, indexes and storage options, from pg_catalog."""
    queries = {
        "columns": "SELECT table_name, column_name, data_type, character_maximum_length, "
                   "is_nullable, column_default, is_identity, identity_generation, "
                   "collation_name FROM information_schema.columns "
                   "WHERE table_schema = current_schema()",
        "constraints": "SELECT t.relname, c.conname, c.contype, pg_get_constraintdef(c.oid), "
                       "c.convalidated, c.condeferrable FROM pg_constraint c "
                       "JOIN pg_class t ON t.oid = c.conrelid "
                       "WHERE t.relnamespace = current_schema()::regnamespace",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
                   "WHERE schemaname = current_schema()",
        "relations": "SELECT relname, relkind, reloptions::text FROM pg_class "
                     "WHERE relnamespace = current_schema()::regnamespace",
    }
    with engine.connect() as conn:
        return {name: sorted(tuple(r) for r in conn.execute(text(sql)))
                for name, sql in queries.items()}


Rows = dict[str, list[tuple[Any, ...]]]


def _without_write_order(rows: Rows) -> Rows:
    """The snapshot without journals.id and postings.seq, which follow the order of writing,
    and without cycle_runs (the closed day's row has the instant it was written)."""
    drop = {"journals": [c.name for c in s.journals.c].index("id"),
            "postings": [c.name for c in s.postings.c].index("seq")}
    return {name: sorted((tuple(v for k, v in enumerate(r) if k != drop[name]) for r in rows_),
                         key=repr) if name in drop else rows_
            for name, rows_ in rows.items() if name != "cycle_runs"}


def test_an_import_into_an_empty_book_leaves_the_tables_defined_as_the_migrations_make_them(
        engine: Engine, migrated: Engine, fast_runs: list[int], tmp_path: Path) -> None:
    book = write_book(tmp_path / "book", USERS, FIRST).directory
    code, out, err = _import(engine, book)
    assert code == 0, err
    assert fast_runs == [1]
    assert json.loads(out)["loans"] == USERS
    assert definitions(engine) == definitions(migrated)
    with engine.connect() as conn:
        assert check_all(conn) == []


def test_the_example_book_through_the_fast_path_closes_its_first_night_with_the_ledger_balanced(
        engine: Engine, fast_runs: list[int]) -> None:
    code, out, err = _import(engine, BOOK)
    assert code == 0, err
    assert fast_runs == [1]
    assert json.loads(out) == {"users": 3, "loans": 2, "already_stored": 0,
                               "first_open_day": FIRST.isoformat()}
    before = snapshot(engine)
    assert _import(engine, BOOK)[0] == 0  # now a book: the plain path, which changes nothing
    assert fast_runs == [1]
    assert changed_tables(before, snapshot(engine)) == []
    close_date(engine, FIRST, load_config(), SimulatedBank(engine))
    with engine.connect() as conn:
        assert check_all(conn) == []


def test_the_fast_path_stores_the_rows_the_batch_path_stores(
        engine: Engine, fast_runs: list[int], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    book = write_book(tmp_path / "book", USERS, FIRST).directory
    assert _import(engine, book)[0] == 0
    fast = _without_write_order(snapshot(engine))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(t.name for t in s.metadata.sorted_tables)} "
                          "RESTART IDENTITY"))
    monkeypatch.setattr(bulk_load, "empty_book", lambda conn: False)
    code, _, err = _import(engine, book)
    assert code == 0, err
    assert fast_runs == [1]
    assert fast["installments"]
    assert _without_write_order(snapshot(engine)) == fast


def test_a_duplicate_key_found_after_the_copy_leaves_the_book_and_its_definitions_as_they_were(
        engine: Engine, migrated: Engine, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    book = tmp_path / "book"
    shutil.copytree(BOOK, book)
    _, out, err = _import(engine, write_book(tmp_path / "small", 2, FIRST).directory)
    assert '"users": 2' in out, err
    with engine.begin() as conn:  # an empty book again, with two users stored
        conn.execute(text("TRUNCATE postings, journals, installments, loans"))
    copied = bulk_load.installment_text

    def twice(rows: Any) -> str:  # every installment sent twice: the key finds it
        data = copied(rows)
        return data + data

    monkeypatch.setattr(bulk_load, "installment_text", twice)
    before = snapshot(engine)
    code, _, _ = _import(engine, book)
    assert code != 0
    assert changed_tables(before, snapshot(engine)) == []
    assert definitions(engine) == definitions(migrated)
