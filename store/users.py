"""Users: the borrower rows (score, limit, balances, consents, next recalculation)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, update

from store import schema as s


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
