"""A property: the SQL that finds the loans falling due on a date (``store``'s
``falls_due_on``, read from the loan row alone) says what ``domain``'s schedule
says, for any disbursement and term, over years of month ends."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select

from domain.schedule import due_dates
from store import schema as s
from store.bulk import insert_many
from store.selection import falls_due_on
from tests.support.helpers import migrated_engine

FIRST, LAST = date(2020, 1, 1), date(2034, 12, 31)


@st.composite
def days(draw: st.DrawFn) -> date:
    """Any date, with month ends and the days before them drawn often."""
    year, month = draw(st.integers(FIRST.year, LAST.year)), draw(st.integers(1, 12))
    last = calendar.monthrange(year, month)[1]
    day = draw(st.one_of(st.integers(max(1, last - 3), last), st.integers(1, last)))
    return date(year, month, day)


loans = st.lists(st.tuples(days(), st.integers(1, 36)), min_size=1, max_size=5)


@pytest.fixture
def engine(db_url: str) -> Engine:
    engine = migrated_engine(db_url)
    with engine.begin() as conn:
        insert_many(conn, s.users, [{"id": "u1", "score": 600, "credit_limit": 0}])
    return engine


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # one database, reused
@given(book=loans, on_days=st.lists(days(), min_size=1, max_size=6))
def test_the_loans_falling_due_on_a_date_are_those_the_schedule_has_due_then(
        engine: Engine, book: list[tuple[date, int]], on_days: list[date]) -> None:
    rows = [{"id": f"L{k}", "user_id": "u1", "principal": 1000, "annual_rate_bp": 0,
             "term_months": term, "disbursed": d0, "status": "active"}
            for k, (d0, term) in enumerate(book)]
    schedule = {r["id"]: set(due_dates(r["disbursed"], r["term_months"])) for r in rows}
    # Around the first and last due dates and the month ends is where a mistake would show.
    probes = set(on_days)
    for due in schedule.values():
        edges = {min(due), max(due)} | {d for d in due if d.day >= 28}
        probes |= {d + timedelta(days=n) for d in edges for n in (-1, 0, 1)}
    with engine.begin() as conn:
        conn.execute(delete(s.loans))
        insert_many(conn, s.loans, rows)
        for on in sorted(probes):
            got = set(conn.execute(select(s.loans.c.id).where(falls_due_on(on))).scalars())
            assert got == {k for k, due in schedule.items() if on in due}, on
