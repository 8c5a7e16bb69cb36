"""The records of the steps' decisions: the loan events the overdue and collection rules
raise, the score events and the limit events, inserted in bulk (a repeated one is
ignored) and read for a chunk of users in one statement."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date

from sqlalchemy import Connection, select

from domain.limits import LimitDecision
from domain.model import LoanEvent
from domain.scoring import ScoreDecision
from store import schema as s
from store.bulk import in_ids, insert_ignore_many
from store.selection import in_range, not_held


def insert_loan_events(conn: Connection, events: Iterable[LoanEvent]) -> None:
    """Record loan events; one already recorded is ignored."""
    insert_ignore_many(conn, s.loan_events, [
        {"day": e.day, "user_id": e.user_id, "loan_id": e.loan_id, "kind": e.kind,
         "detail": e.detail} for e in events])


def loan_events_of(conn: Connection, on: date, lo: str, hi: str) -> list[LoanEvent]:
    """The loan events of ``on`` of users ``lo``..``hi`` not held, in the order raised."""
    le = s.loan_events.c
    return [LoanEvent(r.day, r.user_id, r.loan_id, r.kind, r.detail) for r in conn.execute(
        select(s.loan_events).where(le.day == on, in_range(le.user_id, lo, hi),
                                    not_held(le.user_id, on)).order_by(le.id))]


def users_with_loan_event(conn: Connection, on: date, kind: str,
                          user_ids: Collection[str]) -> set[str]:
    """Those of ``user_ids`` with a loan event of ``kind`` on ``on``."""
    le = s.loan_events.c
    return set(conn.execute(select(le.user_id).where(
        le.day == on, le.kind == kind, in_ids(conn, le.user_id, user_ids))).scalars())


def insert_score_events(conn: Connection, decisions: Iterable[ScoreDecision]) -> None:
    """Record every score change of ``decisions``; one already recorded is ignored."""
    insert_ignore_many(conn, s.score_events, [
        {"day": e.day, "user_id": e.user_id, "loan_id": e.loan_id, "reason": e.reason,
         "old": e.old, "new": e.new, "seq": e.seq} for d in decisions for e in d.events])


def insert_limit_events(conn: Connection, on: date, decisions: Iterable[LimitDecision]) -> None:
    """Record the limit changes of ``decisions`` (those that changed) on ``on``."""
    insert_ignore_many(conn, s.limit_events, [
        {"day": on, "user_id": d.user_id, "old": d.old, "new": d.new,
         "reasons": ",".join(d.reasons)} for d in decisions if d.changed])
