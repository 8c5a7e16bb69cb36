"""Shared pieces of the steps: the chunk transaction and the bank debit rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from sqlalchemy import Connection, Engine, select

from domain.steps import StepKey
from store import bulk
from store import cycle as cyc
from store import schema as s
from store.bulk import bulk_update
from workers.bank import PENDING


@contextmanager
def chunk_tx(engine: Engine, on: date, key: StepKey, chunk_no: int
             ) -> Iterator[Connection | None]:
    """A transaction that owns the chunk; yields None when the chunk is already done."""
    with engine.begin() as conn:
        row = cyc.claim_chunk(conn, on, key.label, chunk_no)
        yield None if row is None else conn


def pending_users(conn: Connection, user_ids: list[str]) -> set[str]:
    """The users of ``user_ids`` with a card debit still open (an intent or pending)."""
    if not user_ids:
        return set()
    b = s.bank_debits.c
    return set(conn.execute(select(b.user_id).where(
        bulk.in_ids(conn, b.user_id, user_ids), b.status.in_(("intent", PENDING)))).scalars())


def update_debits(conn: Connection, updates: list[dict[str, object]]) -> None:
    """Write the bank's answers to their debit rows (``b_key`` names the row)."""
    bulk_update(conn, s.bank_debits, ["key"],
                [{("key" if k == "b_key" else k): v for k, v in u.items()} for u in updates])
