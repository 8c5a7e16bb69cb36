"""Events: the record of every event applied (idempotent by its key), and the refusals of
those the rules refused. An event ``events.record`` accepted is one row: its key is
``rec:`` and the caller's, with the digest of what was sent, when it was recorded and its
outcome (``applied`` or the refusal code). A batch is written with a handful of
statements whatever its size: its keys read in one query, its events inserted in one.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select

from store import schema as s
from store.bulk import bulk_update, in_ids, insert_many, insert_rows
from store.selection import in_range, not_held


def recorded_keys(conn: Connection, keys: Collection[str]) -> set[str]:
    """Those of ``keys`` whose event has been applied already."""
    ev = s.events.c
    return set(conn.execute(select(ev.key).where(ev.key.in_(list(keys)))).scalars())


def record(conn: Connection, key: str, day: date, user_id: str, kind: str,
           payload: Any, recorded: dict[str, Any] | None = None) -> None:
    """Record an applied event under its idempotency key (a repeated key violates it);
    ``recorded``: the ``digest``, ``at`` and ``outcome`` of an ``events.record`` event."""
    conn.execute(insert(s.events).values(day=day, user_id=user_id, kind=kind, key=key,
                                         payload=payload, **(recorded or {})))


def record_refusal(conn: Connection, row: dict[str, Any]) -> None:
    """Store a refusal: ``day``, ``kind``, ``user_id``, ``loan_id``, ``reason``."""
    conn.execute(insert(s.refusals).values(**row))


def event_recorded(conn: Connection, key: str) -> bool:
    """Whether an event submitted with idempotency key ``key`` has been applied."""
    return conn.execute(select(s.events.c.key).where(s.events.c.key == key)).first() is not None


RECORDED = "rec:"  # before the caller's key in the key of an event events.record accepted
RECORDED_COLUMNS = ("day", "user_id", "kind", "key", "payload", "digest", "at", "outcome")


def known_keys(conn: Connection, keys: Collection[str]) -> dict[str, str | None]:
    """The digest stored under each of the callers' ``keys`` already recorded."""
    if not keys:
        return {}
    ev = s.events.c
    return {r.key.removeprefix(RECORDED): r.digest for r in conn.execute(
        select(ev.key, ev.digest).where(in_ids(conn, ev.key, [RECORDED + k for k in keys])))}


def insert_recorded(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert the events of an ``events.record`` batch, given as values in
    ``RECORDED_COLUMNS`` order with the payload already JSON text (on PostgreSQL it is
    copied as it is: no encoding per row), in one statement. A key recorded meanwhile
    fails the batch: the unique key is the last guard, the user locks the first."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        at = RECORDED_COLUMNS.index("payload")
        insert_many(conn, s.events, [
            {c: (json.loads(v) if i == at else v) for i, (c, v)
             in enumerate(zip(RECORDED_COLUMNS, r, strict=True))} for r in rows])
        return
    insert_rows(conn, s.events, RECORDED_COLUMNS, rows)


def activity_rows(conn: Connection, user_ids: Collection[str]) -> list[Any]:
    """The activity and next recalculation date of ``user_ids``."""
    u = s.users.c
    return list(conn.execute(select(u.id, u.activity, u.next_recalc)
                             .where(in_ids(conn, u.id, user_ids))))


def outcomes(conn: Connection, keys: Collection[str]) -> dict[str, str]:
    """What became of each recorded key: ``applied`` or the refusal code."""
    if not keys:
        return {}
    ev = s.events.c
    return {r.key.removeprefix(RECORDED): r.outcome for r in conn.execute(
        select(ev.key, ev.outcome).where(in_ids(conn, ev.key, [RECORDED + k for k in keys]),
                                         ev.outcome.is_not(None)))}


def add_to_cards(conn: Connection, amounts: dict[str, int]) -> None:
    """Credit the simulated cards of users (opened at 0 if missing): one read, one bulk
    insert of the missing accounts, one bulk update."""
    if not amounts:
        return
    a = s.sim_bank_accounts.c
    balances = {r.user_id: r.balance for r in conn.execute(
        select(a.user_id, a.balance).where(in_ids(conn, a.user_id, amounts)))}
    insert_many(conn, s.sim_bank_accounts, [
        {"user_id": u, "balance": 0, "invalid": False} for u in sorted(amounts)
        if u not in balances])
    bulk_update(conn, s.sim_bank_accounts, ["user_id"], [
        {"user_id": u, "balance": balances.get(u, 0) + n} for u, n in sorted(amounts.items())])
def users_with_external_overdue(conn: Connection, on: date, lo: str, hi: str) -> list[str]:
    """The users ``lo``..``hi`` (not held) reported overdue elsewhere on ``on``, once each."""
    ev = s.events.c
    return list(conn.execute(select(ev.user_id).distinct().where(
        ev.day == on, ev.kind == "external_overdue", in_range(ev.user_id, lo, hi),
        not_held(ev.user_id, on))).scalars())
