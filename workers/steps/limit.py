"""The limit step: the limits of the users whose recalculation is due."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain import flags, limits
from domain.config import ProductConfig
from domain.eligibility import identity_expired
from domain.steps import Step, StepKey
from store import cycle as cyc
from store import decisions as decision_rows
from store import selection
from store import users as user_rows
from store.engine import Connection, Engine
from workers.steps.common import chunk_tx


def limit_chunk(engine: Engine, on: date, lo: str, hi: str, chunk_no: int,
                config: ProductConfig, *, key: StepKey | None = None) -> int:
    """The limit step for users ``lo``..``hi`` whose recalculation is due."""
    step = key or StepKey(Step.LIMIT)
    with chunk_tx(engine, on, step, chunk_no) as conn:
        if conn is None:
            return 0
        rows = selection.lock_users_due_recalc(conn, lo, hi, on, LIMIT_COLUMNS)
        decisions = recalculate_limits(conn, list(rows), on, config, rows=rows)
        cyc.complete_chunk(conn, on, step, chunk_no, len(decisions))
        return len(decisions)


LIMIT_COLUMNS = ("score", "credit_limit", "limit_frozen", "closed", "activity", "last_disbursed",
                 "last_increase", "last_base", "overdue_history_pending", "identity_expires")


def recalculate_limits(conn: Connection, user_ids: list[str], on: date,
                       config: ProductConfig, *, rows: dict[str, Any] | None = None
                       ) -> list[limits.LimitDecision]:
    """Recalculate the limits of ``user_ids`` (locked by the caller; ``rows`` their
    rows with ``LIMIT_COLUMNS`` when the caller read them with the lock)."""
    if not user_ids:
        return []
    if rows is None:
        rows = user_rows.load_user_rows(conn, user_ids, LIMIT_COLUMNS)
    closing = decision_rows.users_with_loan_event(conn, on, "WRITE_OFF_DUE", user_ids)
    states = [limits.LimitState(
        user_id=r.id, score=r.score, limit=r.credit_limit, frozen=r.limit_frozen,
        closed=r.closed or r.id in closing, activity=user_rows.activity_of(r),
        last_disbursed=r.last_disbursed, last_increase=r.last_increase,
        last_base=r.last_base, overdue_history_pending=r.overdue_history_pending,
        identity_expired=identity_expired(r.identity_expires, on))
        for r in (rows[x] for x in user_ids)]
    decisions = limits.recalculate(states, on, config)
    decision_rows.insert_limit_events(conn, on, decisions)
    nxt = flags.next_recalculation(on, config)
    user_rows.update_users(conn, [
        {"id": d.user_id, "credit_limit": d.new, "last_increase": d.last_increase,
         "last_base": d.last_base, "overdue_history_pending": d.overdue_history_pending,
         "last_recalc": on, "next_recalc": nxt} for d in decisions])
    return decisions
