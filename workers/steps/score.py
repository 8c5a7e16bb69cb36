"""The score step: the day's loan and external events move the users' scores."""

from __future__ import annotations

from datetime import date

from domain import bureau, scoring
from domain.config import ProductConfig
from domain.model import LoanEvent
from domain.steps import Step, StepKey
from store import bureau as bureau_rows
from store import cycle as cyc
from store import decisions as decision_rows
from store import events as event_rows
from store import users as user_rows
from store.engine import Connection, Engine
from workers.steps.common import chunk_tx


def score_chunk(engine: Engine, on: date, lo: str, hi: str, chunk_no: int,
                config: ProductConfig, *, key: StepKey | None = None) -> int:
    """The score step for users ``lo``..``hi``: the day's loan and external events."""
    step = key or StepKey(Step.SCORE)
    with chunk_tx(engine, on, step, chunk_no) as conn:
        if conn is None:
            return 0
        events = decision_rows.loan_events_of(conn, on, lo, hi)
        external = event_rows.users_with_external_overdue(conn, on, lo, hi)
        user_ids = sorted({e.user_id for e in events} | set(external))
        rows = user_rows.lock_users_by_id(conn, user_ids, ("score", "last_external_overdue"))
        states = [scoring.ScoreState(u, rows[u].score, rows[u].last_external_overdue)
                  for u in user_ids]
        decisions = scoring.score_users(states, events, external, on, config)
        decision_rows.insert_score_events(conn, decisions)
        user_rows.update_users(conn, [
            {"id": d.user_id, "score": d.score, "last_external_overdue": d.last_external_overdue,
             "next_recalc": on} for d in decisions])
        _bureau_records(conn, events)
        cyc.complete_chunk(conn, on, step, chunk_no, len(decisions))
        return len(decisions)


def _bureau_records(conn: Connection, events: list[LoanEvent]) -> None:
    wanted = bureau.reported(events)
    if not wanted:
        return
    loans = bureau_rows.loan_states_of(conn, [e.loan_id for e in wanted])
    bureau_rows.insert_records(conn, bureau.event_records(wanted, loans))
