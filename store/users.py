"""Users: the borrower rows (score, limit, balances, consents, activity, next
recalculation), read and written set-based for a chunk, the row lock every writer of a
user takes, users as the platform sends them (``users.upsert``: a batch read with a couple
of statements and written with one bulk insert and one bulk update) and as eligibility
reads them."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, Row, Text, cast, func, insert, select, text, update
from sqlalchemy.sql import ColumnElement

from domain.activity import Activity
from domain.eligibility import Applicant
from domain.flags import Flags
from domain.model import LIVE_STATUSES, OVERDUE, User
from store import schema as s
from store.bulk import bulk_update, in_ids, insert_many, update_rows


def lock_users(conn: Connection, user_ids: Collection[str]) -> None:
    """Take the row lock every writer of a user takes (a no-op on SQLite, which
    serialises writers with BEGIN IMMEDIATE)."""
    if not user_ids or conn.dialect.name == "sqlite":
        return
    conn.execute(select(s.users.c.id).where(in_ids(conn, s.users.c.id, user_ids))
                 .order_by(s.users.c.id).with_for_update())


def _user(row: Any) -> User:
    return User(id=row.id, score=row.score, limit=row.credit_limit,
                limit_frozen=row.limit_frozen, closed=row.closed, wallet=row.wallet,
                fund=row.fund, consent_wallet=row.consent_wallet,
                consent_card=row.consent_card, consent_fund=row.consent_fund,
                card_blocked=row.card_blocked, card_token=row.card_token or None)


_USER_FIELDS = ("id", "score", "credit_limit", "limit_frozen", "closed", "wallet", "fund",
                "consent_wallet", "consent_card", "consent_fund", "card_blocked", "card_token")


def load_users(conn: Connection, user_ids: Collection[str], *,
               lock: bool = False) -> dict[str, User]:
    """Users by id; with ``lock``, read with the lock every writer of a user takes (one
    statement: a row changed meanwhile is waited for and read as its writer left it)."""
    if not user_ids:
        return {}
    u = s.users.c
    rows: Iterable[Row[Any]]
    if lock:
        rows = lock_user_rows(conn, in_ids(conn, u.id, user_ids), _USER_FIELDS).values()
    else:
        rows = conn.execute(select(*(u[c] for c in _USER_FIELDS))
                            .where(in_ids(conn, u.id, user_ids)))
    return {r.id: _user(r) for r in rows}


def load_user_rows(conn: Connection, user_ids: Collection[str],
                   columns: Sequence[str] | None = None) -> dict[str, Any]:
    """Users' rows by id: every column, or ``columns`` (with ``id``) only."""
    if not user_ids:
        return {}
    u = s.users.c
    cols = [u.id, *(u[c] for c in columns if c != "id")] if columns else [s.users]
    rows = conn.execute(select(*cols).where(in_ids(conn, u.id, user_ids)))
    return {r.id: r for r in rows}


def lock_user_rows(conn: Connection, where: ColumnElement[bool],
                   columns: Sequence[str], *, activity_text: bool = False
                   ) -> dict[str, Row[Any]]:
    """The users matching ``where``, locked and read in one statement, in id order.

    On PostgreSQL a row another writer changed meanwhile is waited for and read
    as that writer left it (and ``where`` checked again), as a lock followed by a
    read would give. With ``activity_text`` the ``activity`` column comes as its JSON
    text, for ``activities_of`` to decode a chunk's at once.
    """
    u = s.users.c
    q = select(u.id, *(_column(c, activity_text) for c in columns if c != "id")
               ).where(where).order_by(u.id)
    if conn.dialect.name != "sqlite":
        q = q.with_for_update()
    return {r.id: r for r in conn.execute(q).all()}  # fetched at once, not row by row


def _column(name: str, activity_text: bool) -> ColumnElement[Any]:
    column = s.users.c[name]
    if activity_text and name == "activity":
        return cast(column, Text).label("activity")
    return column


def save_users(conn: Connection, users: Iterable[User]) -> int:
    """Write back the users changed (``dirty``), one bulk UPDATE; returns the rows written."""
    rows = [{"id": u.id, "score": u.score, "credit_limit": u.limit,
             "limit_frozen": u.limit_frozen, "closed": u.closed, "wallet": u.wallet,
             "fund": u.fund, "card_blocked": u.card_blocked}
            for u in users if u.dirty]
    return bulk_update(conn, s.users, ["id"], rows)


def lock_users_for_intake(conn: Connection, user_ids: Collection[str]) -> dict[str, Row[Any]]:
    """The users ``user_ids`` locked (the lock every writer takes, in id order) and read
    in one statement, with what an ``events.record`` batch changes (balances, activity,
    next recalculation) and what ``as_user`` needs. An id that is no user is absent."""
    if not user_ids:
        return {}
    return lock_user_rows(conn, in_ids(conn, s.users.c.id, user_ids),
                          (*_USER_FIELDS, "activity", "next_recalc"))


def as_user(row: Any) -> User:
    """A user row (with the columns of ``load_users``) as the domain's ``User``."""
    return _user(row)


def save_intake(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write back what a batch changed of its locked users: ``id``, ``wallet``, ``fund``,
    ``activity`` (JSON-ready) and ``next_recalc``, one statement for the whole batch. On
    PostgreSQL the rows travel as one JSON parameter (``json_to_recordset``: encoded in C,
    where a driver's arrays quote each element in Python) and meet the users by their
    primary key: no temporary table, no statement per user."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        update_users(conn, rows)
        return
    data = json.dumps([{**r, "next_recalc": None if r["next_recalc"] is None
                        else r["next_recalc"].isoformat()} for r in rows],
                      separators=(",", ":"))
    conn.execute(_SAVE_INTAKE, {"rows": data})


_SAVE_INTAKE = text(
    "UPDATE users AS t SET wallet = v.wallet, fund = v.fund, activity = v.activity, "
    "next_recalc = v.next_recalc FROM json_to_recordset(CAST(:rows AS json)) "
    "AS v(id varchar, wallet bigint, fund bigint, activity json, next_recalc date) "
    "WHERE t.id = v.id")


def activity_of(row: Any) -> Activity:
    """A user row's activity, stored as JSON text or a JSON value."""
    raw = row.activity
    if isinstance(raw, str):
        raw = json.loads(raw)
    return Activity.from_json(raw)


def activities_of(rows: Iterable[Any]) -> list[Activity]:
    """The activity of each of ``rows``, as ``activity_of`` gives it; the JSON texts
    decoded at once (one ``json.loads`` of the chunk's, which costs half what one per
    user does)."""
    raws = [r.activity for r in rows]
    texts = [x for x in raws if isinstance(x, str)]
    if not texts:
        return [Activity.from_json(x) for x in raws]
    decoded = iter(json.loads("[" + ",".join(texts) + "]"))
    return [Activity.from_json(next(decoded) if isinstance(x, str) else x) for x in raws]


def insert_new(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new users (a repeated id violates the key); every row has the same columns."""
    if rows:
        conn.execute(insert(s.users), list(rows))


def set_last_disbursed(conn: Connection, user_id: str, on: date) -> None:
    """Record that the user drew a loan on ``on``."""
    conn.execute(update(s.users).where(s.users.c.id == user_id).values(last_disbursed=on))


def set_activity(conn: Connection, user_id: str, activity: Any, next_recalc: date) -> None:
    """Store a user's folded activity (JSON-ready) and next recalculation date."""
    conn.execute(update(s.users).where(s.users.c.id == user_id)
                 .values(activity=activity, next_recalc=next_recalc))


def existing(conn: Connection, user_ids: Collection[str]) -> set[str]:
    """The ids among ``user_ids`` that are users already."""
    if not user_ids:
        return set()
    u = s.users.c
    return set(conn.execute(select(u.id).where(in_ids(conn, u.id, user_ids))).scalars())


def lock_existing(conn: Connection, user_ids: Collection[str], *,
                  slice_size: int = 50_000) -> set[str]:
    """The ids among ``user_ids`` that are users already, each locked as every writer of a
    user locks it, in id order across slices of ``slice_size`` (a whole book's users in a
    few statements; on SQLite, which serialises writers, a plain read)."""
    ordered = sorted(user_ids)
    found: set[str] = set()
    u = s.users.c
    for at in range(0, len(ordered), slice_size):
        part = ordered[at:at + slice_size]
        query = select(u.id).where(in_ids(conn, u.id, part)).order_by(u.id)
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()
        found.update(conn.execute(query).scalars())
    return found


# The columns of a user brought in by ``creditcycle import`` (the others take defaults).
IMPORTED_USER_COLUMNS = ("id", "name", "phone", "birth_date", "identity_verified",
                         "identity_expires", "score", "consent_wallet", "consent_card",
                         "consent_fund", "card_token", "credit_limit", "wallet", "fund",
                         "last_recalc", "last_base", "next_recalc", "last_disbursed")


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


LIMIT_RESULT_COLUMNS = ("id", "credit_limit", "last_increase", "last_base",
                        "overdue_history_pending")


def save_limits(conn: Connection, rows: Sequence[tuple[Any, ...]], on: date,
                next_recalc: date) -> None:
    """Write a limit recalculation back: per user the values of ``LIMIT_RESULT_COLUMNS``
    in that order; ``last_recalc`` ``on`` and ``next_recalc`` the same for all of them.
    One statement (from a few dozen rows, a COPY of these columns only and one UPDATE)."""
    update_rows(conn, s.users, ["id"], LIMIT_RESULT_COLUMNS, rows,
                {"last_recalc": on, "next_recalc": next_recalc})


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
# ---------------------------------------------------------------- the steps' user reads
def stored_flags(conn: Connection, user_ids: Collection[str]) -> list[Flags]:
    """The flags (frozen, overdue history pending, next recalculation) of ``user_ids``, in
    one read (run also for none)."""
    u = s.users.c
    return [Flags(r.id, r.limit_frozen, r.overdue_history_pending, r.next_recalc)
            for r in conn.execute(select(u.id, u.limit_frozen, u.overdue_history_pending,
                                         u.next_recalc).where(u.id.in_(sorted(user_ids))))]


def lock_users_by_id(conn: Connection, user_ids: Collection[str],
                     columns: Sequence[str]) -> dict[str, Row[Any]]:
    """The users ``user_ids`` locked and read (``columns`` with ``id``) in one statement."""
    if not user_ids:
        return {}
    return lock_user_rows(conn, in_ids(conn, s.users.c.id, user_ids), columns)
