"""Events: the record of every event applied (idempotent by the caller's key), the keys of
the batches of ``events.record`` with their digests and outcomes, and the refusals of those
the rules refused. A batch is written with a handful of statements whatever its size: the
keys are read in one query, the events and keys inserted in one statement each.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select

from store import schema as s
from store.bulk import bulk_update, in_ids, insert_many
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


def known_keys(conn: Connection, keys: Collection[str]) -> dict[str, str]:
    """The digest stored under each of ``keys`` already recorded."""
    if not keys:
        return {}
    k = s.recorded_keys.c
    return {r.key: r.digest for r in conn.execute(
        select(k.key, k.digest).where(in_ids(conn, k.key, keys)))}


def insert_keys(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Store the keys of a batch (a key recorded meanwhile fails the batch: the unique key
    is the last guard, the user locks the first)."""
    insert_many(conn, s.recorded_keys, rows)


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert event rows (day, user_id, kind, key, payload) in one statement."""
    insert_many(conn, s.events, rows)


def activity_rows(conn: Connection, user_ids: Collection[str]) -> list[Any]:
    """The activity and next recalculation date of ``user_ids``."""
    u = s.users.c
    return list(conn.execute(select(u.id, u.activity, u.next_recalc)
                             .where(in_ids(conn, u.id, user_ids))))


def outcomes(conn: Connection, keys: Collection[str]) -> dict[str, str]:
    """What became of each recorded key: ``applied`` or the refusal code."""
    if not keys:
        return {}
    k = s.recorded_keys.c
    return {r.key: r.outcome for r in conn.execute(
        select(k.key, k.outcome).where(in_ids(conn, k.key, keys)))}


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
