"""The schema and its constraints, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

from store import schema as s
from store.engine import make_engine, migrate
from tests.support.helpers import LoanSpec, migrated_engine, seed_portfolio

D = date(2026, 3, 1)


def test_migrate_creates_every_table_of_the_schema(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in s.metadata.sorted_tables} <= tables
        assert "alembic_version" in tables
    finally:
        engine.dispose()


def test_migrating_twice_is_harmless_and_keeps_the_data(db_url: str) -> None:
    engine = migrated_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(s.agencies).values(name="Alpha Recovery"))
        migrate(db_url)
        with engine.connect() as conn:
            assert conn.execute(select(s.agencies.c.name)).scalars().all() == ["Alpha Recovery"]
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        assert len(versions) == 1
    finally:
        engine.dispose()


@pytest.fixture
def engine(db_url: str):
    engine = migrated_engine(db_url)
    seed_portfolio(engine, [{"id": "u1", "wallet": 500, "card": 0}],
                   [LoanSpec("L1", "u1", 90000, 0, 3, date(2026, 1, 15))])
    yield engine
    engine.dispose()


def _journal(key: str) -> dict[str, object]:
    return {"key": key, "day": D, "kind": "test", "user_id": "u1", "loan_id": None,
            "amount": 1}


def test_a_journal_with_an_existing_key_is_refused(engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(s.journals).values(**_journal("k1")))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(s.journals).values(**_journal("k1")))
    with engine.connect() as conn:
        keys = conn.execute(select(s.journals.c.key).where(s.journals.c.key == "k1")).all()
    assert len(keys) == 1


def test_a_wallet_cannot_go_negative(engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(update(s.users).where(s.users.c.id == "u1")
                     .values(wallet=s.users.c.wallet - 501))
    with engine.connect() as conn:
        assert conn.execute(select(s.users.c.wallet)).scalar_one() == 500


def test_a_fund_and_a_simulated_card_cannot_go_negative(engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(update(s.users).values(fund=-1))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(update(s.sim_bank_accounts).values(balance=-1))


def test_an_installment_cannot_be_paid_more_principal_than_it_has(engine) -> None:
    i = s.installments.c
    with engine.connect() as conn:
        principal = conn.execute(select(i.principal).where(i.loan_id == "L1", i.no == 1)
                                 ).scalar_one()
    with engine.begin() as conn:
        conn.execute(update(s.installments).where(i.loan_id == "L1", i.no == 1)
                     .values(paid_principal=principal))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(update(s.installments).where(i.loan_id == "L1", i.no == 1)
                     .values(paid_principal=principal + 1))
    for column in ("paid_interest", "paid_penalty"):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(update(s.installments).where(i.loan_id == "L1", i.no == 1)
                         .values({column: 10**9}))


def test_penalty_is_accrued_once_per_loan_installment_and_day(engine) -> None:
    row = {"loan_id": "L1", "no": 1, "day": D, "principal_base": 30000, "amount": 22,
           "booked": True}
    with engine.begin() as conn:
        conn.execute(insert(s.penalty_accruals).values(**row))
        conn.execute(insert(s.penalty_accruals).values(**{**row, "day": date(2026, 3, 2)}))
        conn.execute(insert(s.penalty_accruals).values(**{**row, "no": 2}))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(s.penalty_accruals).values(**{**row, "amount": 1}))
    with engine.connect() as conn:
        assert conn.execute(select(s.penalty_accruals.c.amount).where(
            s.penalty_accruals.c.day == D, s.penalty_accruals.c.no == 1)).scalars().all() == [22]


def test_a_bank_debit_cannot_take_more_than_it_asked(engine) -> None:
    row = {"key": "b1", "user_id": "u1", "day": D, "attempt": "cob", "amount": 100,
           "card_token": "tok-u1", "status": "intent"}
    with engine.begin() as conn:
        conn.execute(insert(s.bank_debits).values(**row))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(update(s.bank_debits).values(taken=101))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(s.bank_debits).values(**row))


def test_ids_sort_as_strings_on_every_backend(engine) -> None:
    with engine.begin() as conn:
        for uid in ("u10", "u2", "U3", "u1-a"):
            conn.execute(insert(s.users).values(id=uid, score=600, credit_limit=0))
        ids = conn.execute(select(s.users.c.id).order_by(s.users.c.id)).scalars().all()
    assert ids == sorted(ids, key=lambda x: x.encode())


def test_every_posting_gets_its_write_order_on_every_backend(engine) -> None:
    """The nightly proof reads an account's postings after its mark by ``seq``: a posting
    without one would never be proven (SQLite fills it by a trigger a table rebuild drops)."""
    with engine.begin() as conn:
        conn.execute(insert(s.journals).values(**_journal("k-seq")))
        conn.execute(insert(s.postings), [
            {"journal_key": "k-seq", "account": "cash", "owner": None, "amount": 1},
            {"journal_key": "k-seq", "account": "wallet:u1", "owner": "u1", "amount": -1}])
    with engine.connect() as conn:
        p = s.postings.c
        assert conn.execute(select(func.count()).where(p.seq.is_(None))).scalar_one() == 0
        seqs = conn.execute(select(p.seq).where(p.journal_key == "k-seq").order_by(p.seq)
                            ).scalars().all()
        newest = conn.execute(select(func.max(p.seq))).scalar_one()
    assert len(set(seqs)) == 2 and seqs[-1] == newest
