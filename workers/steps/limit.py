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
        rows = selection.lock_users_due_recalc(conn, lo, hi, on, LIMIT_COLUMNS,
                                               activity_text=True)
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
    chunk = [rows[x] for x in user_ids]
    state = limits.LimitState
    states = [state(r.id, r.score, r.credit_limit, r.limit_frozen, r.closed or r.id in closing,
                    a, r.last_disbursed, r.last_increase, r.last_base,
                    r.overdue_history_pending, identity_expired(r.identity_expires, on))
              for r, a in zip(chunk, user_rows.activities_of(chunk), strict=True)]
    decisions = limits.recalculate(states, on, config)
    decision_rows.insert_limit_events(conn, on, decisions)
    # In the order of user_rows.LIMIT_RESULT_COLUMNS.
    user_rows.save_limits(conn, [(d.user_id, d.new, d.last_increase, d.last_base,
                                  d.overdue_history_pending) for d in decisions],
                          on, flags.next_recalculation(on, config))
    return decisions
