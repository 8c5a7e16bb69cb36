"""Reconciliation: pending card debits resolved, then the day's ledger proof."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from domain import deduction, overdue
from domain.config import ProductConfig
from domain.steps import Step, StepKey
from store import cycle as cyc
from store import debits as debit_rows
from store import journals as journal_rows
from store import ledger_checks
from store import loans as loan_rows
from store import users as user_rows
from store.engine import Connection, Engine
from workers import metrics
from workers.bank import DEBITED, FAILED, UNKNOWN, BankChannel, believed
from workers.steps.common import chunk_tx


def reconcile_chunk(engine: Engine, on: date, lo: str, hi: str, chunk_no: int,
                    config: ProductConfig, channel: BankChannel, *,
                    key: StepKey | None = None) -> int:
    """Resolve pending card debits of the chunk's users."""
    step = key or StepKey(Step.RECONCILE)
    with engine.connect() as conn:
        if cyc.chunk_done(conn, on, step, chunk_no):
            return 0
        pending = debit_rows.pending_of_users(conn, on, lo, hi)
    results = {r.key: r for r in channel.query([p.key for p in pending])}
    with chunk_tx(engine, on, step, chunk_no) as conn:
        if conn is None:
            return 0
        rows = resolve_pending(conn, on, pending, results, config)
        cyc.complete_chunk(conn, on, step, chunk_no, rows)
        return rows


def resolve_pending(conn: Connection, on: date, pending: Sequence[Any],
                    results: dict[str, Any],
                    config: ProductConfig) -> int:
    """Apply the bank's final answers to pending debits (value-dated); returns the debits."""
    open_keys = debit_rows.still_pending(conn, [p.key for p in pending])
    # unknown: the bank never received the key, released as not taken; an answer out of
    # the protocol (taken above the amount, ...) is refused, logged and left pending.
    todo = [p for p in pending if p.key in open_keys and p.key in results
            and results[p.key].status in (DEBITED, FAILED, UNKNOWN)
            and believed(p.amount, results[p.key])]
    if not todo:
        return 0
    user_ids = sorted({p.user_id for p in todo})
    users = user_rows.load_users(conn, user_ids, lock=True)
    loans = loan_rows.live_loans_of(conn, user_ids)
    by_user = loan_rows.loans_by_user(loans)
    # One read of the accruals for every debit of the chunk (each then takes those of its
    # user's loans from its own value date); none is written before the loop ends.
    every_accrual = loan_rows.accruals_since(conn, [x.id for x in loans],
                                             min(p.day for p in todo))
    journals, updates, accrual_updates = [], [], []
    for p in todo:
        res = results[p.key]
        user = users[p.user_id]
        if res.status == DEBITED and res.taken > 0:
            mine = by_user.get(user.id, [])
            ids = {x.id for x in mine}
            accruals = [a for a in every_accrual if a[0] in ids and a[2] >= p.day]
            js, updated = deduction.apply_value_dated_debit(
                user, mine, p.key, res.taken, p.day, on, accruals,
                lambda base, rate: overdue.daily_penalty(base, rate, config))
            journals.extend(js)
            accrual_updates.extend(updated)
        updates.append({"b_key": p.key, "status": res.status, "taken": res.taken,
                        "reason": res.reason, "resolved_on": on})
    journal_rows.insert_journals(conn, journals)
    user_rows.save_users(conn, users.values())
    loan_rows.save_loans(conn, loans)
    debit_rows.update_debits(conn, updates)
    loan_rows.revalue_accruals(conn, accrual_updates)
    return len(updates)


def reconcile_close(engine: Engine, on: date, *, key: StepKey | None = None) -> list[str]:
    """After all chunks: settle the day's card money, then prove every ledger invariant for
    the accounts the day touched (in one consistent view, its parts side by side on
    PostgreSQL); what is broken goes on the
    close row, which then ends broken instead of done."""
    step = key or StepKey(Step.RECONCILE_CLOSE)
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, step, 0) is None:
            return []
        ledger_checks.settle_bank_clearing(conn, on)
    problems = ledger_checks.prove_day(engine, on)
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, step, 0) is None:
            return []  # another copy finished it (and recorded what it found)
        if problems:
            cyc.record_problem(conn, on, f"{ledger_checks.DAY_PROOF} of {on}: "
                                         + "; ".join(problems))
        cyc.complete_chunk(conn, on, step, 0, len(problems))
    if problems:
        metrics.ledger_proof_failed("day")
    return problems
