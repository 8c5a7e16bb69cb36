"""The plan of a business date's chunks: keyset ranges of user ids, made once per date
and reused by every step of it (``cycle_chunks``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from store import schema as s
from store.cycle import insert_ignore


def plan_chunks(conn: Connection, on: date, chunk_size: int) -> list[tuple[int, str, str]]:
    """Keyset ranges of user ids for ``on``, made once and reused by every step."""
    c = s.cycle_chunks.c
    existing = conn.execute(select(c.chunk_no, c.lo, c.hi).where(c.day == on)
                            .order_by(c.chunk_no)).all()
    if existing:
        return [(r.chunk_no, r.lo, r.hi) for r in existing]
    ids = s.users.c.id
    numbered = select(ids.label("id"),
                      func.row_number().over(order_by=ids).label("rn")).subquery()
    bounds = conn.execute(
        select(numbered.c.id, numbered.c.rn)
        .where(or_rows(numbered.c.rn, chunk_size))
        .order_by(numbered.c.rn)).all()
    last = conn.execute(select(func.max(ids))).scalar()
    if last is None:
        return []
    starts = [r.id for r in bounds if (r.rn - 1) % chunk_size == 0]
    ends = {int(r.rn): r.id for r in bounds if r.rn % chunk_size == 0}
    ranges = [(n, lo, ends.get((n + 1) * chunk_size, last)) for n, lo in enumerate(starts)]
    insert_ignore(conn, s.cycle_chunks, [{"day": on, "chunk_no": n, "lo": lo, "hi": hi}
                                         for n, lo, hi in ranges])
    return plan_chunks(conn, on, chunk_size)


def or_rows(rn: Any, chunk_size: int) -> Any:
    """Whether row number ``rn`` is the first or last of its chunk of ``chunk_size``."""
    return (((rn - 1) % chunk_size) == 0) | ((rn % chunk_size) == 0)


def planned_range(conn: Connection, on: date, chunk_no: int) -> tuple[str, str] | None:
    """The (lo, hi) the plan of ``on`` gave chunk ``chunk_no``; None when it has no such chunk."""
    c = s.cycle_chunks.c
    row = conn.execute(select(c.lo, c.hi).where(c.day == on, c.chunk_no == chunk_no)).first()
    return None if row is None else (row.lo, row.hi)


def chunk_ranges(conn: Connection, on: date, chunk_nos: Sequence[int]
                 ) -> list[tuple[int, str, str]]:
    """The planned (chunk_no, lo, hi) of these chunks of ``on``."""
    k = s.cycle_chunks.c
    return [(r.chunk_no, r.lo, r.hi) for r in conn.execute(
        select(s.cycle_chunks).where(k.day == on, k.chunk_no.in_(list(chunk_nos))))]
