"""The users a quarantined chunk holds: held on its date from the step that failed, until
an operator's release lets them catch up (``held_users``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, select, update

from domain.steps import StepKey
from store import schema as s
from store.cycle import fields, insert_ignore
from store.engine import now


def held_user_ids(conn: Connection, on: date) -> list[str]:
    """The users held on ``on`` and not yet released, by id."""
    h = s.held_users.c
    return list(conn.execute(select(h.user_id).where(h.day == on, h.released_at.is_(None))
                             .order_by(h.user_id)).scalars())


def hold_users(conn: Connection, on: date, key: StepKey, chunk_no: int, lo: str, hi: str) -> int:
    """Hold every user of the chunk ``lo``..``hi`` on ``on``; returns the users newly held."""
    ids = list(conn.execute(select(s.users.c.id).where(and_(s.users.c.id >= lo,
                                                            s.users.c.id <= hi))).scalars())
    return insert_ignore(conn, s.held_users, [{"day": on, "user_id": u, **fields(key),
                                               "chunk_no": chunk_no} for u in ids])


def held_rows(conn: Connection, on: date) -> list[Any]:
    """The users held on ``on`` and not yet released, with the step and chunk that held
    them."""
    h = s.held_users.c
    return list(conn.execute(select(s.held_users).where(h.day == on, h.released_at.is_(None))))


def release_users(conn: Connection, user_ids: Sequence[str], since: date) -> None:
    """Release these users from every hold of ``since`` and after."""
    h = s.held_users.c
    conn.execute(update(s.held_users).where(
        h.user_id.in_(list(user_ids)), h.day >= since, h.released_at.is_(None))
        .values(released_at=now()))
