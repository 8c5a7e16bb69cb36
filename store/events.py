"""Events: the record of every event applied (idempotent by the caller's key) and the
refusals of those the rules refused."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select

from store import schema as s
from store.selection import in_range, not_held


def recorded_keys(conn: Connection, keys: Collection[str]) -> set[str]:
    """Those of ``keys`` whose event has been applied already."""
    ev = s.events.c
    return set(conn.execute(select(ev.key).where(ev.key.in_(list(keys)))).scalars())


def record(conn: Connection, key: str, day: date, user_id: str, kind: str,
           payload: Any) -> None:
    """Record an applied event under its idempotency key (a repeated key violates it)."""
    conn.execute(insert(s.events).values(day=day, user_id=user_id, kind=kind, key=key,
                                         payload=payload))


def record_refusal(conn: Connection, row: dict[str, Any]) -> None:
    """Store a refusal: ``day``, ``kind``, ``user_id``, ``loan_id``, ``reason``."""
    conn.execute(insert(s.refusals).values(**row))


def event_recorded(conn: Connection, key: str) -> bool:
    """Whether an event submitted with idempotency key ``key`` has been applied."""
    return conn.execute(select(s.events.c.key).where(s.events.c.key == key)).first() is not None


def users_with_external_overdue(conn: Connection, on: date, lo: str, hi: str) -> list[str]:
    """The users ``lo``..``hi`` (not held) reported overdue elsewhere on ``on``, once each."""
    ev = s.events.c
    return list(conn.execute(select(ev.user_id).distinct().where(
        ev.day == on, ev.kind == "external_overdue", in_range(ev.user_id, lo, hi),
        not_held(ev.user_id, on))).scalars())
