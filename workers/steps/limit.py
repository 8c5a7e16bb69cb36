"""The limit step: the limits of the users whose recalculation is due."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, and_, select

from domain import flags, limits
from domain.config import ProductConfig
from domain.eligibility import identity_expired
from domain.steps import Step, StepKey
from store import bulk, selection
from store import cycle as cyc
from store import schema as s
from store import users as user_rows
from store.bulk import insert_ignore_many
from workers.steps.common import chunk_tx


def limit_chunk(engine: Engine, on: date, lo: str, hi: str, chunk_no: int,
                config: ProductConfig, *, key: StepKey | None = None) -> int:
    """The limit step for users ``lo``..``hi`` whose recalculation is due."""
    step = key or StepKey(Step.LIMIT)
    with chunk_tx(engine, on, step, chunk_no) as conn:
        if conn is None:
            return 0
        u = s.users.c
        rows = user_rows.lock_user_rows(conn, and_(
            selection.in_range(u.id, lo, hi), u.next_recalc <= on, selection.not_held(u.id, on)),
            LIMIT_COLUMNS)
        decisions = recalculate_limits(conn, list(rows), on, config, rows=rows)
        cyc.complete_chunk(conn, on, step.label, chunk_no, len(decisions))
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
    le = s.loan_events.c
    closing = set(conn.execute(select(le.user_id).where(
        le.day == on, le.kind == "WRITE_OFF_DUE",
        bulk.in_ids(conn, le.user_id, user_ids))).scalars())
    states = [limits.LimitState(
        user_id=r.id, score=r.score, limit=r.credit_limit, frozen=r.limit_frozen,
        closed=r.closed or r.id in closing, activity=user_rows.activity_of(r),
        last_disbursed=r.last_disbursed, last_increase=r.last_increase,
        last_base=r.last_base, overdue_history_pending=r.overdue_history_pending,
        identity_expired=identity_expired(r.identity_expires, on))
        for r in (rows[x] for x in user_ids)]
    decisions = limits.recalculate(states, on, config)
    insert_ignore_many(conn, s.limit_events, [
        {"day": on, "user_id": d.user_id, "old": d.old, "new": d.new,
         "reasons": ",".join(d.reasons)} for d in decisions if d.changed])
    nxt = flags.next_recalculation(on, config)
    user_rows.update_users(conn, [
        {"id": d.user_id, "credit_limit": d.new, "last_increase": d.last_increase,
         "last_base": d.last_base, "overdue_history_pending": d.overdue_history_pending,
         "last_recalc": on, "next_recalc": nxt} for d in decisions])
    return decisions
