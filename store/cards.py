"""The simulated bank's card accounts: each user's card balance and the card's trouble
(an outage day, a timeout day and how it resolves, an invalid card)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, select, update

from store import schema as s


def open_accounts(conn: Connection, balances: Mapping[str, int]) -> None:
    """Open a card account per user with its starting balance."""
    if balances:
        conn.execute(insert(s.sim_bank_accounts),
                     [{"user_id": u, "balance": b} for u, b in balances.items()])


def _ensure(conn: Connection, user_id: str) -> None:
    a = s.sim_bank_accounts
    if conn.execute(select(a.c.user_id).where(a.c.user_id == user_id)).first() is None:
        conn.execute(insert(a).values(user_id=user_id, balance=0))


def deposit(conn: Connection, user_id: str, amount: int) -> None:
    """Add ``amount`` to the user's card (opening an empty account first if needed)."""
    _ensure(conn, user_id)
    a = s.sim_bank_accounts
    conn.execute(update(a).where(a.c.user_id == user_id)
                 .values(balance=a.c.balance + amount))


def set_trouble(conn: Connection, user_id: str, **values: Any) -> None:
    """Set the card's trouble columns (``outage_day``, ``timeout_day``,
    ``timeout_resolves``, ``invalid``), opening an empty account first if needed."""
    _ensure(conn, user_id)
    a = s.sim_bank_accounts
    conn.execute(update(a).where(a.c.user_id == user_id).values(**values))


def balances(conn: Connection) -> dict[str, int]:
    """Every card's balance, by user id."""
    return {r.user_id: r.balance for r in conn.execute(
        select(s.sim_bank_accounts.c.user_id, s.sim_bank_accounts.c.balance))}
