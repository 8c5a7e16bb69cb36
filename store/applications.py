"""SQL for loan applications (SPEC 12): read by loan id, written in bulk, expired hourly."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, union, update

from domain.applications import AWAITING_AUDIT, CANCELLED
from store import schema as s
from store.bulk import bulk_update, in_ids, insert_many


def used_loan_ids(conn: Connection, loan_ids: Collection[str]) -> set[str]:
    """The ids among ``loan_ids`` already taken by an application or a loan."""
    if not loan_ids:
        return set()
    a, ln = s.loan_applications.c, s.loans.c
    return set(conn.execute(union(select(a.id).where(in_ids(conn, a.id, loan_ids)),
                                  select(ln.id).where(in_ids(conn, ln.id, loan_ids))))
               .scalars())


def load(conn: Connection, loan_ids: Collection[str]) -> dict[str, Any]:
    """Applications by loan id."""
    if not loan_ids:
        return {}
    a = s.loan_applications.c
    return {r.id: r for r in conn.execute(select(s.loan_applications)
                                          .where(in_ids(conn, a.id, loan_ids)))}


def insert(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """New applications (id, user_id, submitted_at, status, reason, the loan asked for)."""
    insert_many(conn, s.loan_applications, rows)


def decide(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write decisions: rows of id, status, reason, closed_at."""
    bulk_update(conn, s.loan_applications, ["id"], rows)


def expire(conn: Connection, deadline: datetime, at: datetime) -> int:
    """Cancel applications submitted at or before ``deadline`` still awaiting audit."""
    a = s.loan_applications.c
    return conn.execute(update(s.loan_applications).where(
        a.status == AWAITING_AUDIT, a.submitted_at <= deadline)
        .values(status=CANCELLED, reason="APPLICATION_EXPIRED", closed_at=at)).rowcount


def of_user(conn: Connection, user_id: str) -> list[Any]:
    """A user's applications, newest first (for ``explain``)."""
    a = s.loan_applications.c
    return list(conn.execute(select(s.loan_applications).where(a.user_id == user_id)
                             .order_by(a.submitted_at.desc(), a.id)))


def every_decision(conn: Connection) -> list[Any]:
    """Every application's (id, status, reason), by id: what a scenario's result shows."""
    a = s.loan_applications.c
    return list(conn.execute(select(a.id, a.status, a.reason).order_by(a.id)))


def users_awaiting_audit_since(conn: Connection, status: str, deadline: datetime) -> list[str]:
    """The users, in id order, with an application in ``status`` submitted at or before
    ``deadline`` (the expiry's: their locks are taken before it cancels)."""
    a = s.loan_applications.c
    return sorted(conn.execute(select(a.user_id).where(
        a.status == status, a.submitted_at <= deadline).distinct()).scalars())
