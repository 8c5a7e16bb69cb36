"""The overdue step: penalties, days past due, buckets, the users' flags."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Engine, delete, select, tuple_, update

from domain import flags, overdue
from domain.config import ProductConfig
from domain.model import Loan
from domain.steps import Step, StepKey
from store import cycle as cyc
from store import journals as journal_rows
from store import loans as loan_rows
from store import schema as s
from store import selection
from store import users as user_rows
from store.bulk import insert_ignore_many
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
        _write_accruals(conn, out)
        journal_rows.insert_journals(conn, out.journals)
        insert_ignore_many(conn, s.loan_events, [
            {"day": e.day, "user_id": e.user_id, "loan_id": e.loan_id, "kind": e.kind,
             "detail": e.detail} for e in out.events])
        rows = loan_rows.save_loans(conn, loans)
        _refresh_user_flags(conn, loans, out, on)
        cyc.complete_chunk(conn, on, step.label, chunk_no, rows)
        return rows


def _write_accruals(conn: Connection, out: overdue.OverdueOutcome) -> None:
    p = s.penalty_accruals.c
    if out.booked_pending:
        conn.execute(update(s.penalty_accruals).where(
            tuple_(p.loan_id, p.no).in_(out.booked_pending), p.booked.is_(False))
            .values(booked=True))
    if out.dropped_pending:
        conn.execute(delete(s.penalty_accruals).where(
            tuple_(p.loan_id, p.no).in_(out.dropped_pending), p.booked.is_(False)))
    insert_ignore_many(conn, s.penalty_accruals, [
        {"loan_id": a.loan_id, "no": a.installment_no, "day": a.day,
         "principal_base": a.principal_base, "amount": a.amount, "booked": a.booked}
        for a in out.accruals])


def _refresh_user_flags(conn: Connection, loans: list[Loan], out: overdue.OverdueOutcome,
                        on: date) -> None:
    """Frozen while any loan is overdue; the recalculation is due when a status moved."""
    frozen = flags.frozen_while_overdue(loans)
    u = s.users.c
    stored = [flags.Flags(r.id, r.limit_frozen, r.overdue_history_pending, r.next_recalc)
              for r in conn.execute(select(u.id, u.limit_frozen, u.overdue_history_pending,
                                           u.next_recalc).where(u.id.in_(sorted(frozen))))]
    changed = flags.after_overdue(stored, frozen, out.status_changed_users, out.cleared_users,
                                  on)
    user_rows.update_users(conn, [
        {"id": f.user_id, "limit_frozen": f.limit_frozen,
         "overdue_history_pending": f.overdue_history_pending, "next_recalc": f.next_recalc}
        for f in changed])
