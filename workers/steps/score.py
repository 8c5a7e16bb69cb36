"""The score step: the day's loan and external events move the users' scores."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, select

from domain import bureau, scoring
from domain.config import ProductConfig
from domain.model import LoanEvent
from domain.steps import Step, StepKey
from store import bulk, selection
from store import cycle as cyc
from store import schema as s
from store import users as user_rows
from store.bulk import insert_ignore_many
from workers.steps.common import chunk_tx


def score_chunk(engine: Engine, on: date, lo: str, hi: str, chunk_no: int,
                config: ProductConfig, *, key: StepKey | None = None) -> int:
    """The score step for users ``lo``..``hi``: the day's loan and external events."""
    step = key or StepKey(Step.SCORE)
    with chunk_tx(engine, on, step, chunk_no) as conn:
        if conn is None:
            return 0
        le = s.loan_events.c
        held = selection.not_held(le.user_id, on)
        events = [_loan_event(r) for r in conn.execute(
            select(s.loan_events).where(le.day == on, selection.in_range(le.user_id, lo, hi), held)
            .order_by(le.id))]
        ev = s.events.c
        external = list(conn.execute(select(ev.user_id).distinct().where(
            ev.day == on, ev.kind == "external_overdue", selection.in_range(ev.user_id, lo, hi),
            selection.not_held(ev.user_id, on))).scalars())
        user_ids = sorted({e.user_id for e in events} | set(external))
        rows = user_rows.lock_user_rows(conn, bulk.in_ids(conn, s.users.c.id, user_ids),
                                   ("score", "last_external_overdue")) if user_ids else {}
        states = [scoring.ScoreState(u, rows[u].score, rows[u].last_external_overdue)
                  for u in user_ids]
        decisions = scoring.score_users(states, events, external, on, config)
        insert_ignore_many(conn, s.score_events, [
            {"day": e.day, "user_id": e.user_id, "loan_id": e.loan_id, "reason": e.reason,
             "old": e.old, "new": e.new, "seq": e.seq} for d in decisions for e in d.events])
        user_rows.update_users(conn, [
            {"id": d.user_id, "score": d.score, "last_external_overdue": d.last_external_overdue,
             "next_recalc": on} for d in decisions])
        _bureau_records(conn, events)
        cyc.complete_chunk(conn, on, step.label, chunk_no, len(decisions))
        return len(decisions)


def _loan_event(row: Any) -> LoanEvent:
    return LoanEvent(row.day, row.user_id, row.loan_id, row.kind, row.detail)


def _bureau_records(conn: Connection, events: list[LoanEvent]) -> None:
    wanted = bureau.reported(events)
    if not wanted:
        return
    lo = s.loans.c
    loans = {r.id: bureau.LoanState(r.id, r.user_id, r.status, r.dpd) for r in conn.execute(
        select(lo.id, lo.user_id, lo.status, lo.dpd).where(
            lo.id.in_([e.loan_id for e in wanted])))}
    insert_ignore_many(conn, s.bureau_records, [
        {"day": x.day, "user_id": x.user_id, "loan_id": x.loan_id, "kind": x.kind,
         "status": x.status, "dpd": x.dpd} for x in bureau.event_records(wanted, loans)])
