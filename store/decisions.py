"""The records of the steps' decisions: the loan events the overdue and collection rules
raise, the score events and the limit events, inserted in bulk (a repeated one is
ignored) and read for a chunk of users in one statement."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from domain.limits import LimitDecision
from domain.model import LoanEvent
from domain.scoring import ScoreDecision
from store import schema as s
from store.bulk import COPY_THRESHOLD, in_ids, insert_ignore_many, insert_rows
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
    """Record the limit changes of ``decisions`` (those that changed) on ``on``; one already
    recorded (the user's limit recalculated that day already) is ignored.

    On PostgreSQL many go straight into the table by one COPY, under a savepoint: a
    chunk's users have none recorded for the day but by a recalculation run for one user
    (``creditcycle.limit.recalc``), and only then, the COPY refused by the constraint, they
    go the way that ignores a repeated one (a temporary table and ``INSERT ... SELECT ...
    ON CONFLICT DO NOTHING``, which costs the server about twice the plain COPY)."""
    rows = [(on, d.user_id, d.old, d.new, ",".join(d.reasons))
            for d in decisions if d.changed]
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD:
        try:
            with conn.begin_nested():
                insert_rows(conn, s.limit_events, _LIMIT_EVENT_COLUMNS, rows)
            return
        except IntegrityError:
            pass  # one of them recorded already: the savepoint undid the COPY
    insert_ignore_many(conn, s.limit_events, [
        dict(zip(_LIMIT_EVENT_COLUMNS, r, strict=True)) for r in rows])


_LIMIT_EVENT_COLUMNS = ("day", "user_id", "old", "new", "reasons")
