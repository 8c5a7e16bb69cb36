"""The overdue step: penalties, days past due, buckets, the users' flags."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import Connection, Engine, delete, select, tuple_, update

from domain import overdue
from domain.config import ProductConfig
from domain.model import OVERDUE, Loan
from domain.steps import Step, StepKey
from store import cycle as cyc
from store import repo
from store import schema as s
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
        loans = repo.loans_needing_overdue(conn, lo, hi, on, config.grace_days)
        out = overdue.assess(loans, on, config)
        _write_accruals(conn, out)
        repo.insert_journals(conn, out.journals)
        insert_ignore_many(conn, s.loan_events, [
            {"day": e.day, "user_id": e.user_id, "loan_id": e.loan_id, "kind": e.kind,
             "detail": e.detail} for e in out.events])
        rows = repo.save_loans(conn, loans)
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
    frozen: dict[str, bool] = defaultdict(bool)
    for x in loans:
        frozen[x.user_id] |= x.status == OVERDUE
    rows = conn.execute(select(s.users.c.id, s.users.c.limit_frozen,
                               s.users.c.overdue_history_pending, s.users.c.next_recalc)
                        .where(s.users.c.id.in_(sorted(frozen)))).all()
    updates = []
    for r in rows:
        changed = r.id in out.status_changed_users
        history = r.overdue_history_pending or (r.id in out.cleared_users and not frozen[r.id])
        next_recalc = on if changed and (r.next_recalc is None or r.next_recalc > on) \
            else r.next_recalc
        if (frozen[r.id], history, next_recalc) != (r.limit_frozen, r.overdue_history_pending,
                                                    r.next_recalc):
            updates.append({"id": r.id, "limit_frozen": frozen[r.id],
                            "overdue_history_pending": history, "next_recalc": next_recalc})
    repo.update_users(conn, updates)
