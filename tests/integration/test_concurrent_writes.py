"""A write from outside the cycle (a prepayment during the night) and a chunk never
interleave on PostgreSQL: both take the user's row lock, and the chunk reads the user's
loans only once it holds it (DESIGN: the cycle)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from domain.commands import parse_event
from store import schema as s
from store.ledger_checks import check_all
from tests.support.helpers import LoanSpec, migrated_engine, seed_portfolio
from workers import steps
from workers.ingest import apply_events

D = date(2026, 2, 20)  # L1's first installment (due 02-15) is 6 days late


def _repay_when_the_chunk_locks(engine: Engine, other: Engine, amount: int,
                                on: date = D) -> list[str]:
    """Just before the chunk's first lock on users, a repayment commits elsewhere."""
    fired: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if fired or "FOR UPDATE" not in statement or "FROM users" not in statement:
            return
        fired.append(statement)
        repay = parse_event({"date": on.isoformat(), "user": "u1", "kind": "repay",
                             "loan": "L1", "amount": amount})
        with other.begin() as conn:
            apply_events(conn, [("night-repay", repay)])

    event.listen(engine, "before_cursor_execute", before)
    return fired


@pytest.mark.parametrize(("step", "amount"), [("overdue", 20000), ("overdue", 500000),
                                              ("collect", 20000), ("collect", 500000)])
def test_a_prepayment_that_commits_while_a_chunk_starts_is_not_overwritten(
        fresh_postgres_url: str, step: str, amount: int) -> None:
    engine = migrated_engine(fresh_postgres_url)
    other = migrated_engine(fresh_postgres_url)
    try:
        config = seed_portfolio(engine, [{"id": "u1", "score": 700}],
                                [LoanSpec("L1", "u1", 120000, 1800, 3, date(2026, 1, 15))],
                                end=D).config
        if step == "collect":
            steps.overdue_chunk(engine, D, "u1", "u1", 0, config)
        fired = _repay_when_the_chunk_locks(engine, other, amount)
        run = steps.overdue_chunk if step == "overdue" else steps.collect_chunk
        run(engine, D, "u1", "u1", 0, config)
        assert fired
        i = s.installments.c
        with engine.connect() as conn:
            paid = conn.execute(select(i.paid_principal + i.paid_interest + i.paid_penalty)
                                .where(i.loan_id == "L1", i.no == 1)).scalar_one()
            assert paid > 0, "the prepayment was overwritten by the chunk"
            status = conn.execute(select(s.loans.c.status)).scalar_one()
            assert (status == "paid_off") == (amount == 500000)
            assert check_all(conn) == []
    finally:
        engine.dispose()
        other.dispose()


def test_a_prepayment_that_commits_while_the_handoff_pass_starts_is_not_overwritten(
        fresh_postgres_url: str) -> None:
    engine = migrated_engine(fresh_postgres_url)
    other = migrated_engine(fresh_postgres_url)
    dpd91 = date(2026, 5, 16)
    try:
        # 12 months: at DPD 91 some installments are still to come, so paying everything
        # (due, accrued interest and the remaining principal) closes the loan at once.
        config = seed_portfolio(engine, [{"id": "u1", "score": 700}],
                                [LoanSpec("L1", "u1", 120000, 1800, 12, date(2026, 1, 15))],
                                agencies=["Alpha"], end=dpd91).config
        steps.overdue_chunk(engine, dpd91, "u1", "u1", 0, config)
        steps.collect_chunk(engine, dpd91, "u1", "u1", 0, config)
        fired = _repay_when_the_chunk_locks(engine, other, 500000, dpd91)
        steps.handoff_pass(engine, dpd91)
        assert fired
        with engine.connect() as conn:
            assert conn.execute(select(s.loans.c.status)).scalar_one() == "paid_off"
            assert check_all(conn) == []
    finally:
        engine.dispose()
        other.dispose()
