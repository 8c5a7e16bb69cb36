"""SQL for users as the platform sends them (``users.upsert``) and as eligibility reads them.

Set-based: a batch of users is read with a couple of statements and written with
one bulk insert and one bulk update, whatever its size.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from domain.eligibility import Applicant
from domain.model import LIVE_STATUSES, OVERDUE
from store import schema as s
from store.bulk import bulk_update, insert_many
from store.repo import in_ids


def existing(conn: Connection, user_ids: Collection[str]) -> set[str]:
    """The ids among ``user_ids`` that are users already."""
    if not user_ids:
        return set()
    u = s.users.c
    return set(conn.execute(select(u.id).where(in_ids(conn, u.id, user_ids))).scalars())


def insert_users(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new users; every row has the same columns."""
    insert_many(conn, s.users, rows)


def update_users(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Update users, grouped by the set of columns each row carries (one statement per
    shape, not per user)."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    for group in shapes.values():
        bulk_update(conn, s.users, ["id"], group)


def open_bank_accounts(conn: Connection, balances: dict[str, int]) -> None:
    """The simulated card balance of users created with one (SPEC 11 ``card``)."""
    insert_many(conn, s.sim_bank_accounts, [
        {"user_id": k, "balance": v, "invalid": False} for k, v in sorted(balances.items())])


def applicants(conn: Connection, user_ids: Collection[str]) -> dict[str, Applicant]:
    """What eligibility needs of each user: three statements for the whole batch."""
    if not user_ids:
        return {}
    u, ln, i = s.users.c, s.loans.c, s.installments.c
    users = conn.execute(select(u.id, u.closed, u.birth_date, u.identity_verified,
                                u.identity_expires, u.credit_limit)
                         .where(in_ids(conn, u.id, user_ids))).all()
    owed = dict(conn.execute(
        select(ln.user_id, func.sum(i.principal - i.paid_principal))
        .join(s.installments, i.loan_id == ln.id)
        .where(in_ids(conn, ln.user_id, user_ids), ln.status.in_(LIVE_STATUSES))
        .group_by(ln.user_id)).all())
    overdue = set(conn.execute(select(ln.user_id).where(
        in_ids(conn, ln.user_id, user_ids), ln.status == OVERDUE).distinct()).scalars())
    return {r.id: Applicant(r.id, bool(r.closed), r.id in overdue, r.birth_date,
                            bool(r.identity_verified), r.identity_expires,
                            int(r.credit_limit) - int(owed.get(r.id) or 0)) for r in users}
