"""SQL for events recorded through ``events.record``: the caller's keys, signals in bulk.

A batch is written with a handful of statements whatever its size: the keys are
read in one query, the events and keys inserted in one statement each.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, select

from store import schema as s
from store.bulk import bulk_update, insert_many
from store.repo import in_ids


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
