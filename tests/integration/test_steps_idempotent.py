"""Each step of the close of business, run twice for the same chunk and date, changes
nothing the second time: a redelivered chunk is a no-op (SPEC section 9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import Engine, select

from domain.config import ProductConfig
from store import cycle_plan as plans
from store import schema as s
from store.ledger_checks import check_all
from tests.support.helpers import (
    LoanSpec,
    changed_tables,
    migrated_engine,
    seed_portfolio,
    snapshot,
)
from workers import steps
from workers.bank import SimulatedBank

D = date(2026, 5, 16)

USERS = [
    {"id": "u01", "name": "Zhang San", "phone": "13800000000", "score": 700, "limit": 500000},
    {"id": "u02", "name": "Li Si", "phone": "13912345678", "score": 700, "limit": 500000},
    {"id": "u03", "score": 650},
    {"id": "u04", "score": 700, "card": 100000, "limit": 2000000},
    {"id": "u05", "score": 700, "card": 100000, "fund": 50000, "limit": 2000000},
    {"id": "u06", "score": 700, "wallet": 5000, "fund": 100000},
    {"id": "u07", "score": 620, "limit": 300000},
    {"id": "u08", "score": 600},
    {"id": "u09", "score": 760, "limit": 1000000},
    {"id": "u10", "name": "Wang Wu", "phone": "13700001111", "score": 600, "limit": 100000},
]

LOANS = [
    # DPD 91 on D: M3+ and the agency handoff (two of them, two agencies)
    LoanSpec("L01", "u01", 120000, 1800, 3, date(2026, 1, 15)),
    LoanSpec("L02", "u02", 90000, 0, 3, date(2026, 1, 15)),
    # DPD 4 on D: an internal case opens
    LoanSpec("L03", "u03", 60000, 1800, 6, date(2026, 1, 13), paid_before=date(2026, 5, 13)),
    # due on D and paid from the card
    LoanSpec("L04", "u04", 90000, 0, 6, date(2026, 1, 16), paid_before=D),
    # due on D, the card times out; the reconcile of D resolves it
    LoanSpec("L05", "u05", 90000, 0, 6, date(2026, 1, 16), paid_before=D),
    # due on D: wallet, then an empty card (failed), then the fund
    LoanSpec("L06", "u06", 90000, 1200, 6, date(2026, 1, 16), paid_before=D),
    # DPD 2 on D: overdue beyond grace, frozen
    LoanSpec("L07", "u07", 60000, 1800, 6, date(2026, 1, 15), paid_before=date(2026, 5, 15)),
    # due in three days: a due_soon reminder
    LoanSpec("L08", "u08", 60000, 1800, 6, date(2026, 1, 19), paid_before=date(2026, 5, 19)),
    # DPD 181 on D: written off, the user closed
    LoanSpec("L10", "u10", 120000, 1800, 12, date(2025, 10, 17),
             paid_before=date(2025, 11, 17)),
]

EVENTS = [
    {"date": D.isoformat(), "user": "u05", "kind": "card_timeout"},
    {"date": D.isoformat(), "user": "u09", "kind": "payment"},
    {"date": D.isoformat(), "user": "u09", "kind": "job_loss"},
]


def seed(engine: Engine) -> ProductConfig:
    sc = seed_portfolio(engine, USERS, LOANS, agencies=["Alpha Recovery", "Beta Collect"],
                        events=EVENTS, config={"chunk_size": 4}, end=D)
    return sc.config


Runner = Callable[[Engine, ProductConfig, SimulatedBank, list[tuple[int, str, str]]], None]


def _per_chunk(fn: Callable[..., int], *extra: object) -> Runner:
    def run(engine: Engine, config: ProductConfig, bank: SimulatedBank,
            chunks: list[tuple[int, str, str]]) -> None:
        for n, lo, hi in chunks:
            args = [a if a != "bank" else bank for a in extra]
            fn(engine, D, lo, hi, n, config, *args)
    return run


def _deduct(attempt: str) -> Runner:
    def run(engine: Engine, config: ProductConfig, bank: SimulatedBank,
            chunks: list[tuple[int, str, str]]) -> None:
        for n, lo, hi in chunks:
            steps.deduct(engine, D, lo, hi, n, config, bank, attempt)
    return run


CLOSE: list[tuple[str, Runner]] = [
    ("deduct at 06:00", _deduct("0600")),
    ("deduct at close of business", _deduct("cob")),
    ("overdue", _per_chunk(steps.overdue_chunk)),
    ("score", _per_chunk(steps.score_chunk)),
    ("limit", _per_chunk(steps.limit_chunk)),
    ("collect", _per_chunk(steps.collect_chunk)),
    ("handoff pass", lambda e, c, b, ch: steps.handoff_pass(e, D)),
    ("reconcile", _per_chunk(steps.reconcile_chunk, "bank")),
    ("reconcile close", lambda e, c, b, ch: steps.reconcile_close(e, D)),
]
NAMES = [name for name, _ in CLOSE]

# What each step's first run must have changed, so that "nothing the second time" means
# something: the step really had work in this portfolio.
FIRST_RUN_CHANGES = {
    "deduct at 06:00": {"journals", "postings", "bank_debits", "installments", "users"},
    "deduct at close of business": {"chunk_runs"},
    "overdue": {"loans", "penalty_accruals", "loan_events", "journals"},
    "score": {"score_events", "bureau_records", "users"},
    "limit": {"limit_events", "users"},
    "collect": {"collection_cases", "notifications", "loans", "journals", "users"},
    "handoff pass": {"handoffs", "collection_cases", "loans"},
    "reconcile": {"bank_debits", "journals", "installments"},
    "reconcile close": {"journals", "postings"},
}


@pytest.fixture
def night(db_url: str):
    engine = migrated_engine(db_url)
    config = seed(engine)
    with engine.begin() as conn:
        chunks = plans.plan_chunks(conn, D, config.chunk_size)
    yield engine, config, SimulatedBank(engine), chunks
    engine.dispose()


@pytest.mark.parametrize("step", NAMES)
def test_a_step_run_twice_for_the_same_chunks_and_date_changes_nothing_the_second_time(
        night, step: str) -> None:
    engine, config, bank, chunks = night
    assert len(chunks) == 3
    index = NAMES.index(step)
    for _, run in CLOSE[:index]:
        run(engine, config, bank, chunks)
    run = CLOSE[index][1]

    before_first = snapshot(engine)
    run(engine, config, bank, chunks)
    after_first = snapshot(engine)
    assert FIRST_RUN_CHANGES[step] <= set(changed_tables(before_first, after_first))

    run(engine, config, bank, chunks)
    assert changed_tables(after_first, snapshot(engine)) == []


def test_the_portfolio_night_does_what_each_loan_was_set_up_for(night) -> None:
    engine, config, bank, chunks = night
    for _, run in CLOSE:
        run(engine, config, bank, chunks)
    with engine.connect() as conn:
        loans = {r.id: r for r in conn.execute(select(s.loans))}
        users = {r.id: r for r in conn.execute(select(s.users))}
        handoffs = {r.loan_id: r.agency for r in conn.execute(select(s.handoffs))}
        debits = {r.user_id: r.status for r in conn.execute(select(s.bank_debits))}
        i = s.installments.c
        owed_today = {r.loan_id: r.owed for r in conn.execute(select(
            i.loan_id, (i.principal + i.interest + i.penalty - i.paid_principal
                        - i.paid_interest - i.paid_penalty).label("owed"))
            .where(i.due_date == D))}
        problems = check_all(conn)
    assert (loans["L01"].dpd, loans["L01"].bucket, loans["L01"].agency) == (91, "M3+",
                                                                         "Alpha Recovery")
    assert handoffs == {"L01": "Alpha Recovery", "L02": "Beta Collect"}
    assert (loans["L03"].dpd, loans["L03"].collection_stage) == (4, "internal")
    assert (loans["L04"].dpd, loans["L06"].dpd) == (0, 0)
    # L05's debit resolved at reconcile, after overdue ran: DPD 1 (within grace) until
    # tomorrow's overdue step, but the installment due on D is paid.
    assert (loans["L05"].dpd, loans["L05"].status, owed_today["L05"]) == (1, "active", 0)
    assert debits["u04"] == "debited" and debits["u05"] == "debited"
    assert (loans["L07"].status, users["u07"].limit_frozen) == ("overdue", True)
    assert (loans["L10"].status, users["u10"].closed, users["u10"].credit_limit) == (
        "written_off", True, 0)
    assert users["u05"].fund == 50000  # the waterfall stopped before the fund while pending
    assert problems == []
