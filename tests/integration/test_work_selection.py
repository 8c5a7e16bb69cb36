"""Which loans a night reads: found from indexed loan columns, without reading every
installment of the portfolio."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select

from domain.schedule import due_dates
from store import schema as s
from store.bulk import insert_many
from store.repo import falls_due_on

from .helpers import migrated_engine


@pytest.fixture
def engine(db_url: str) -> Engine:
    return migrated_engine(db_url)


def test_the_loans_falling_due_on_a_date_are_read_from_the_loan_rows_alone(
        engine: Engine) -> None:
    """``falls_due_on`` (day of the month, months since disbursement, term) picks exactly
    the loans with an installment due that day, month ends and short months included."""
    starts = [date(2025, m, d) for m in (1, 2, 5, 8, 11, 12) for d in (1, 15, 28, 29, 30, 31)
              if not (m == 2 and d > 28) and not (m == 11 and d == 31)]
    loans = [{"id": f"L{k:03d}", "user_id": "u1", "principal": 1000, "annual_rate_bp": 0,
              "term_months": term, "disbursed": d0, "status": "active"}
             for k, (d0, term) in enumerate((d0, t) for d0 in starts for t in (1, 3, 12))]
    with engine.begin() as conn:
        insert_many(conn, s.users, [{"id": "u1", "score": 600, "credit_limit": 0}])
        insert_many(conn, s.loans, loans)
    schedule = {x["id"]: set(due_dates(x["disbursed"], x["term_months"])) for x in loans}
    days = [date(2025, 1, 1) + timedelta(days=n) for n in range(0, 800, 3)]
    days += [date(2026, 2, 28), date(2025, 2, 28), date(2025, 4, 30), date(2025, 12, 31)]
    with engine.connect() as conn:
        for on in days:
            got = set(conn.execute(select(s.loans.c.id).where(falls_due_on(on))).scalars())
            assert got == {k for k, due in schedule.items() if on in due}, on
