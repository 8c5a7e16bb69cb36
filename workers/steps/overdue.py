"""The overdue step: penalties, days past due, buckets, the users' flags."""

from __future__ import annotations

from datetime import date

from domain import flags, overdue
from domain.config import ProductConfig
from domain.model import Loan
from domain.steps import Step, StepKey
from store import cycle as cyc
from store import decisions as decision_rows
from store import journals as journal_rows
from store import loans as loan_rows
from store import selection
from store import users as user_rows
from store.engine import Connection, Engine
from workers.steps.common import chunk_tx


def overdue_chunk(engine: Engine, on: date, lo: str, hi: str, chunk_no: int,
                  config: ProductConfig, *, key: StepKey | None = None) -> int:
    """The overdue step for users ``lo``..``hi``: penalties, days past due, buckets."""
    step = key or StepKey(Step.OVERDUE)
    with chunk_tx(engine, on, step, chunk_no) as conn:
        if conn is None:
            return 0
        # Read after their users' locks (taken by the read).
        loans = selection.loans_needing_overdue(conn, lo, hi, on, config.grace_days)
        out = overdue.assess(loans, on, config)
        loan_rows.write_accruals(conn, out.booked_pending, out.dropped_pending, out.accruals)
        journal_rows.insert_journals(conn, out.journals)
        decision_rows.insert_loan_events(conn, out.events)
        rows = loan_rows.save_loans(conn, loans)
        _refresh_user_flags(conn, loans, out, on)
        cyc.complete_chunk(conn, on, step, chunk_no, rows)
        return rows


def _refresh_user_flags(conn: Connection, loans: list[Loan], out: overdue.OverdueOutcome,
                        on: date) -> None:
    """Frozen while any loan is overdue; the recalculation is due when a status moved."""
    frozen = flags.frozen_while_overdue(loans)
    stored = user_rows.stored_flags(conn, frozen)
    changed = flags.after_overdue(stored, frozen, out.status_changed_users, out.cleared_users,
                                  on)
    user_rows.update_users(conn, [
        {"id": f.user_id, "limit_frozen": f.limit_frozen,
         "overdue_history_pending": f.overdue_history_pending, "next_recalc": f.next_recalc}
        for f in changed])
