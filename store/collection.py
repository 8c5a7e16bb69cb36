"""Collection: the reminders (notifications), the collection cases and the agencies'
handoffs, read and written set-based (one statement per table and kind of change); a
repeated reminder or handoff is ignored."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from domain.cases import Closure, NewCase, OpenCase
from domain.collection import Notification
from store import schema as s
from store.bulk import insert_ignore_many


def insert_notifications(conn: Connection, notifications: Iterable[Notification],
                         send_from: datetime, send_until: datetime) -> None:
    """Record reminders to send within ``send_from``..``send_until`` (the relay delivers
    them); one already recorded is ignored."""
    insert_ignore_many(conn, s.notifications, [
        {"day": n.day, "user_id": n.user_id, "loan_id": n.loan_id, "kind": n.kind,
         "send_from": send_from, "send_until": send_until} for n in notifications])


def open_cases_of(conn: Connection, loan_ids: Sequence[str]) -> list[OpenCase]:
    """The cases not yet closed of ``loan_ids`` (none read for no loans)."""
    if not loan_ids:
        return []
    c = s.collection_cases.c
    return [OpenCase(r.id, r.loan_id, r.stage, r.paid_at_open)
            for r in conn.execute(select(s.collection_cases).where(
                c.loan_id.in_(loan_ids), c.closed_on.is_(None)))]


def close_cases(conn: Connection, closures: Sequence[Closure]) -> None:
    """Close cases (date, outcome, amount recovered), one bulk UPDATE."""
    if not closures:
        return
    c = s.collection_cases
    conn.execute(update(c).where(c.c.id == bindparam("b_id")).values(
        closed_on=bindparam("closed_on"), outcome=bindparam("outcome"),
        recovered=bindparam("recovered")),
        [{"b_id": x.case_id, "closed_on": x.closed_on, "outcome": x.outcome,
          "recovered": x.recovered} for x in closures])


def open_cases(conn: Connection, opened: Sequence[NewCase]) -> None:
    """Insert new cases, not yet with an agency."""
    if not opened:
        return
    conn.execute(s.collection_cases.insert(), [
        {"loan_id": n.loan_id, "user_id": n.user_id, "stage": n.stage, "agency": None,
         "opened_on": n.opened_on, "paid_at_open": n.paid_at_open} for n in opened])


def waiting_handoffs(conn: Connection, on: date) -> list[Any]:
    """The open agency-stage cases opened by ``on`` with no agency yet (id, loan, user), in
    loan id order; locked on PostgreSQL, so that a held pass retried beside the night's
    own assigns each case once."""
    c = s.collection_cases.c
    q = select(c.id, c.loan_id, c.user_id).where(
        c.stage == "agency", c.agency.is_(None), c.closed_on.is_(None), c.opened_on <= on
    ).order_by(c.loan_id)
    return list(conn.execute(q.with_for_update() if conn.dialect.name == "postgresql"
                             else q).all())


def assign_agencies(conn: Connection, agency_of_case: Sequence[tuple[int, str]]) -> None:
    """Give each case (id) its agency, one bulk UPDATE."""
    c = s.collection_cases.c
    conn.execute(update(s.collection_cases).where(c.id == bindparam("b_id"))
                 .values(agency=bindparam("agency")),
                 [{"b_id": case_id, "agency": agency} for case_id, agency in agency_of_case])


def insert_handoffs(conn: Connection, handoffs: Sequence[dict[str, Any]]) -> None:
    """Record the handoffs to the agencies (``day``, ``loan_id``, ``agency``, the masked
    contact, ``amount_owed``, ``dpd``); one already recorded is ignored."""
    insert_ignore_many(conn, s.handoffs, handoffs)
