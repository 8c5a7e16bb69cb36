"""Bank debits: the card debits asked of the bank, by idempotency key, and their outcome."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from store import schema as s


def pending_debits(conn: Connection, status: str, limit: int = 5000) -> list[Any]:
    """Up to ``limit`` debits whose status is ``status`` (pending), by user id."""
    b = s.bank_debits.c
    return list(conn.execute(select(s.bank_debits).where(b.status == status)
                             .order_by(b.user_id).limit(limit)).all())
