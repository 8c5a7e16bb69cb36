"""The bulk writers give the same rows and the same errors on either path: an
executemany for a few rows (and on SQLite), COPY for many on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from store import schema as s
from store.bulk import (
    COPY_THRESHOLD,
    bulk_update,
    insert_ignore_many,
    insert_many,
    update_rows,
    upsert_newer_many,
)
from tests.support.helpers import migrated_engine

D = date(2026, 3, 1)
SIZES = [3, COPY_THRESHOLD + 50]


@pytest.fixture
def engine(db_url: str) -> Engine:
    return migrated_engine(db_url)


def journals(n: int, prefix: str = "j") -> list[dict[str, object]]:
    return [{"key": f"{prefix}{k:05d}", "day": D, "kind": "penalty", "user_id": f"u{k:05d}",
             "loan_id": None, "amount": k} for k in range(n)]


@pytest.mark.parametrize("n", SIZES)
def test_insert_many_writes_every_row_with_its_values(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        insert_many(conn, s.journals, journals(n))
    with engine.connect() as conn:
        rows = conn.execute(select(s.journals).order_by(s.journals.c.key)).all()
    assert len(rows) == n
    assert (rows[-1].key, rows[-1].amount, rows[-1].day, rows[-1].loan_id) == (
        f"j{n - 1:05d}", n - 1, D, None)
    assert len({r.id for r in rows}) == n


@pytest.mark.parametrize("n", SIZES)
def test_insert_many_refuses_a_repeated_key_and_writes_nothing(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        insert_many(conn, s.journals, journals(1))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        insert_many(conn, s.journals, journals(n))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.journals)).scalar_one() == 1


@pytest.mark.parametrize("n", SIZES)
def test_insert_ignore_many_keeps_the_rows_already_there(engine: Engine, n: int) -> None:
    rows = [{"day": D, "user_id": f"u{k:05d}", "old": 100, "new": 200, "reasons": "SCORE_UP"}
            for k in range(n)]
    with engine.begin() as conn:
        insert_ignore_many(conn, s.limit_events, [{**rows[0], "new": 999}])
    with engine.begin() as conn:
        insert_ignore_many(conn, s.limit_events, rows + rows[:2])
    with engine.connect() as conn:
        got = dict(conn.execute(select(s.limit_events.c.user_id, s.limit_events.c.new)).all())
    assert len(got) == n
    assert got["u00000"] == 999
    assert got[f"u{n - 1:05d}"] == 200


@pytest.mark.parametrize("n", SIZES)
def test_insert_ignore_many_converts_instants_as_an_insert_would(engine: Engine, n: int) -> None:
    start = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    rows = [{"day": D, "user_id": "u1", "loan_id": f"L{k:05d}", "kind": "due_soon",
             "send_from": start, "send_until": start.replace(hour=13)} for k in range(n)]
    with engine.begin() as conn:
        insert_ignore_many(conn, s.notifications, rows)
    with engine.connect() as conn:
        got = conn.execute(select(s.notifications.c.send_from, s.notifications.c.send_until)
                           .limit(1)).one()
    assert got == (start, start.replace(hour=13))


@pytest.mark.parametrize("n", SIZES)
def test_bulk_update_changes_only_the_rows_and_columns_named(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        insert_many(conn, s.journals, journals(n))
        bulk_update(conn, s.journals, ["key"],
                    [{"key": f"j{k:05d}", "amount": -k} for k in range(0, n, 2)])
    with engine.connect() as conn:
        got = dict(conn.execute(select(s.journals.c.key, s.journals.c.amount)).all())
    assert all(v == (-k if k % 2 == 0 else k) for k, v in
               ((int(key[1:]), v) for key, v in got.items()))



@pytest.mark.parametrize("n", SIZES)
def test_update_rows_sets_each_rows_values_and_the_shared_ones_on_those_rows_only(
        engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        insert_many(conn, s.journals, journals(n))
        written = update_rows(conn, s.journals, ["key"], ["key", "amount"],
                              [(f"j{k:05d}", -k) for k in range(0, n, 2)], {"kind": "fee"})
    with engine.connect() as conn:
        got = {r.key: (r.amount, r.kind) for r in conn.execute(select(s.journals))}
    assert written == len(range(0, n, 2))
    assert all(v == ((-k, "fee") if k % 2 == 0 else (k, "penalty")) for k, v in
               ((int(key[1:]), v) for key, v in got.items()))


@pytest.mark.parametrize("n", SIZES)
def test_upsert_newer_many_adds_new_rows_moves_older_ones_and_never_a_newer_one_back(
        engine: Engine, n: int) -> None:
    def mark(k: int, upto: int) -> dict[str, object]:
        return {"owner": f"u{k:05d}", "kind": "wallet", "amount": -upto, "upto": upto, "day": D}

    with engine.begin() as conn:  # u00000 older than what follows, u00001 newer
        upsert_newer_many(conn, s.ledger_marks, ["owner", "kind"], "upto",
                          [mark(0, 5), mark(1, 500)])
    with engine.begin() as conn:
        upsert_newer_many(conn, s.ledger_marks, ["owner", "kind"], "upto",
                          [mark(k, 100 + k) for k in range(n)])
    with engine.connect() as conn:
        got = {r.owner: (r.amount, r.upto) for r in conn.execute(select(s.ledger_marks))}
    assert len(got) == n
    assert got["u00000"] == (-100, 100)
    assert got["u00001"] == (-500, 500)
    assert got[f"u{n - 1:05d}"] == (-(99 + n), 99 + n)
