"""Which loans a night reads: found from indexed loan columns, without reading every
installment of the portfolio."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, select

from domain.schedule import due_dates
from store import schema as s
from store.bulk import insert_many
from store.selection import falls_due_on
from tests.support.helpers import migrated_engine


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



def test_the_next_due_date_kept_on_each_loan_matches_its_installments_after_each_step(
        db_url: str) -> None:
    """Deduct and overdue keep ``loans.next_due`` (the index the night finds work by)
    from the installments they hold: a card that pays the oldest overdue installment
    and part of the next moves it on; one that pays everything due moves it to a
    later installment; one with nothing leaves it."""
    from tests.support.helpers import LoanSpec, seed_portfolio
    from workers import steps
    from workers.bank import SimulatedBank

    cards = [35000, 61000, 0]
    engine = migrated_engine(db_url)
    users = [{"id": f"u{k}", "score": 640, "limit": 500000, "card": c}
             for k, c in enumerate(cards)]
    loans = [LoanSpec(f"L{k}", f"u{k}", 90000, 0, 3, date(2026, 1, 15))
             for k in range(len(cards))]
    config = seed_portfolio(engine, users, loans).config
    bank = SimulatedBank(engine)
    i, lo = s.installments.c, s.loans.c
    owed = i.principal + i.interest + i.penalty > i.paid_principal + i.paid_interest \
        + i.paid_penalty
    oldest = select(func.min(i.due_date)).where(i.loan_id == lo.id, owed).scalar_subquery()
    day = date(2026, 3, 16)
    seen = []
    for step in ("deduct", "overdue"):
        if step == "deduct":
            steps.deduct(engine, day, "u0", "u9", 0, config, bank)
        else:
            steps.overdue_chunk(engine, day, "u0", "u9", 0, config)
        with engine.connect() as conn:
            rows = conn.execute(select(lo.id, lo.next_due, oldest.label("want"))
                                .order_by(lo.id)).all()
        assert [(r.id, r.next_due) for r in rows] == [(r.id, r.want) for r in rows]
        seen.append([r.next_due for r in rows])
    assert seen[0] == [date(2026, 3, 15), date(2026, 4, 15), date(2026, 2, 15)]
    engine.dispose()


def test_penalty_pending_within_grace_is_dropped_when_the_card_pays_the_day_after(
        db_url: str) -> None:
    """The overdue step reads a paid installment that still carries penalty pending within
    grace (it lies before the loan's next due date), so the pending penalty is dropped."""
    from sqlalchemy import update

    from tests.support.helpers import LoanSpec, seed_portfolio
    from workers import steps
    from workers.bank import SimulatedBank

    engine = migrated_engine(db_url)
    users = [{"id": "u0", "score": 640, "limit": 500000, "card": 0}]
    config = seed_portfolio(engine, users, [LoanSpec("L0", "u0", 90000, 1800, 3,
                                                     date(2026, 1, 15))]).config
    bank = SimulatedBank(engine)
    i, pa = s.installments.c, s.penalty_accruals.c
    due, after = date(2026, 2, 15), date(2026, 2, 16)
    steps.deduct(engine, due, "u0", "u0", 0, config, bank)
    steps.overdue_chunk(engine, due, "u0", "u0", 0, config)
    with engine.begin() as conn:
        assert conn.execute(select(i.pending_penalty).where(i.no == 1)).scalar_one() > 0
        conn.execute(update(s.sim_bank_accounts).values(balance=100000))
    steps.deduct(engine, after, "u0", "u0", 0, config, bank)
    steps.overdue_chunk(engine, after, "u0", "u0", 0, config)
    with engine.connect() as conn:
        first = conn.execute(select(s.installments).where(i.no == 1)).one()
        accruals = conn.execute(select(func.count()).select_from(s.penalty_accruals)
                                .where(pa.no == 1)).scalar_one()
    assert (first.paid_principal, first.pending_penalty, first.penalty) == (
        first.principal, 0, 0)
    assert accruals == 0
    engine.dispose()
