"""Cycle state: which steps of which business dates ran, chunk by chunk.

The rows here are the night's watermark. Starting a step is an insert that
does nothing when the row exists; a chunk's completion row is written in the
transaction of its effects; the chunk that completes a step is the one whose
atomic increment returns the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, Table, and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from store import schema as s
from store.engine import now

DONE = "done"
RUNNING = "running"
EXCEPTIONS = "done_with_exceptions"
HELD = "held"  # a step the night went on without, waiting for an operator (no agency)
BROKEN = "ledger_broken"  # a close whose ledger proof failed: not closed until an operator acts
CLOSE = "close"


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows were new.

    The count comes from RETURNING: drivers do not all report a rowcount for
    ON CONFLICT statements (psycopg 3 through SQLAlchemy 2.1 gives -1).
    """
    if not rows:
        return 0
    ins = pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table)
    key = next(iter(table.primary_key.columns))
    stmt = ins.on_conflict_do_nothing().returning(key)
    if len(rows) == 1:
        return len(conn.execute(stmt.values(**rows[0])).all())
    return len(conn.execute(stmt, list(rows)).all())


def _locked_chunk_row(conn: Connection, on: date, step: str, chunk_no: int) -> Any:
    """This chunk's bookkeeping row, created if missing, locked for the transaction."""
    c = s.chunk_runs.c
    insert_ignore(conn, s.chunk_runs, [{"day": on, "step": step, "chunk_no": chunk_no,
                                        "attempts": 0}])
    q = select(s.chunk_runs).where(c.day == on, c.step == step, c.chunk_no == chunk_no)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).one()


def claim_chunk(conn: Connection, on: date, step: str, chunk_no: int) -> Any | None:
    """Lock this chunk's row for the transaction; None when it is already done."""
    row = _locked_chunk_row(conn, on, step, chunk_no)
    return None if row.done_at is not None else row


def set_phase(conn: Connection, on: date, step: str, chunk_no: int, phase: str) -> None:
    """Record how far a chunk has got (its ``phase``)."""
    c = s.chunk_runs.c
    conn.execute(update(s.chunk_runs).where(c.day == on, c.step == step, c.chunk_no == chunk_no)
                 .values(phase=phase))


def complete_chunk(conn: Connection, on: date, step: str, chunk_no: int, rows: int) -> None:
    """Mark a chunk done with the rows it wrote."""
    c = s.chunk_runs.c
    conn.execute(update(s.chunk_runs).where(c.day == on, c.step == step, c.chunk_no == chunk_no)
                 .values(done_at=now(), rows=rows, phase="done"))


def count_attempt(conn: Connection, on: date, step: str, chunk_no: int, *,
                  lease_s: float = 300, redelivered: bool = False) -> int | None:
    """Count one more attempt of a chunk, committed before any work.

    Returns the count, or None when the chunk is already done. A fresh copy of
    a message whose chunk another worker is running now (its lease is live) is
    not an attempt: it waits for the chunk's lock and finds it done. A message
    the broker redelivers (its worker died holding it) always counts, so a
    chunk that kills its worker is quarantined.
    """
    c = s.chunk_runs.c
    row = _locked_chunk_row(conn, on, step, chunk_no)
    if row.done_at is not None:
        return None
    at = now()
    live = row.leased_at is not None and (at - row.leased_at).total_seconds() < lease_s
    if live and not redelivered:
        return int(row.attempts)
    conn.execute(update(s.chunk_runs).where(c.day == on, c.step == step, c.chunk_no == chunk_no)
                 .values(attempts=c.attempts + 1, leased_at=at))
    return int(row.attempts) + 1


def chunk_done(conn: Connection, on: date, step: str, chunk_no: int) -> bool:
    """Whether the chunk has been completed."""
    c = s.chunk_runs.c
    return conn.execute(select(c.done_at).where(
        c.day == on, c.step == step, c.chunk_no == chunk_no)).scalar() is not None


def record_error(conn: Connection, on: date, step: str, chunk_no: int, error: str) -> None:
    """Keep the last error of a chunk (its first 4,000 characters)."""
    c = s.chunk_runs.c
    conn.execute(update(s.chunk_runs).where(c.day == on, c.step == step, c.chunk_no == chunk_no)
                 .values(last_error=error[:4000]))


# ---------------------------------------------------------------- chunk ranges
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
    ranges = []
    for n, lo in enumerate(starts):
        hi_row = [r.id for r in bounds if r.rn == (n + 1) * chunk_size]
        hi = hi_row[0] if hi_row else last
        ranges.append((n, lo, hi))
    insert_ignore(conn, s.cycle_chunks, [{"day": on, "chunk_no": n, "lo": lo, "hi": hi}
                                         for n, lo, hi in ranges])
    return plan_chunks(conn, on, chunk_size)


def or_rows(rn: Any, chunk_size: int) -> Any:
    """Whether row number ``rn`` is the first or last of its chunk of ``chunk_size``."""
    return (((rn - 1) % chunk_size) == 0) | ((rn % chunk_size) == 0)


# ---------------------------------------------------------------- steps of a date
def start_step(conn: Connection, on: date, step: str, total: int) -> bool:
    """Create the (date, step) row; False when somebody already started it."""
    return insert_ignore(conn, s.cycle_runs, [{"day": on, "step": step, "status": RUNNING,
                                               "total": total, "done": 0,
                                               "started_at": now()}]) == 1


def step_row(conn: Connection, on: date, step: str) -> Any | None:
    """The (date, step) row, or None when the step has not started."""
    c = s.cycle_runs.c
    return conn.execute(select(s.cycle_runs).where(c.day == on, c.step == step)).first()


def chunk_finished(conn: Connection, on: date, step: str) -> tuple[int, int]:
    """A chunk of the step is done: atomically recount; returns (done, total).

    The count is of completion rows, not an increment, so a message delivered
    twice after its chunk finished cannot count it twice.
    """
    c, k = s.cycle_runs.c, s.chunk_runs.c
    # Planned chunks are numbered 0..total-1: a row of any other number is not counted.
    finished = (select(func.count()).select_from(s.chunk_runs)
                .where(k.day == on, k.step == step, k.done_at.is_not(None),
                       k.chunk_no < c.total)
                .scalar_subquery())
    row = conn.execute(update(s.cycle_runs).where(c.day == on, c.step == step)
                       .values(done=finished)
                       .returning(c.done, c.total)).one()
    return int(row.done), int(row.total)


def finish_step(conn: Connection, on: date, step: str, status: str = DONE,
                detail: str | None = None) -> bool:
    """End a running step with ``status``; False when it was not running."""
    c = s.cycle_runs.c
    result = conn.execute(update(s.cycle_runs)
                          .where(c.day == on, c.step == step, c.status == RUNNING)
                          .values(status=status, finished_at=now(), detail=detail))
    return result.rowcount == 1


def planned_range(conn: Connection, on: date, chunk_no: int) -> tuple[str, str] | None:
    """The (lo, hi) the plan of ``on`` gave chunk ``chunk_no``; None when it has no such chunk."""
    c = s.cycle_chunks.c
    row = conn.execute(select(c.lo, c.hi).where(c.day == on, c.chunk_no == chunk_no)).first()
    return None if row is None else (row.lo, row.hi)


def steps_of(conn: Connection, on: date) -> list[Any]:
    """The step rows of ``on``, in the order they started."""
    c = s.cycle_runs.c
    return list(conn.execute(select(s.cycle_runs).where(c.day == on).order_by(c.started_at)))


def held_user_ids(conn: Connection, on: date) -> list[str]:
    """The users held on ``on`` and not yet released, by id."""
    h = s.held_users.c
    return list(conn.execute(select(h.user_id).where(h.day == on, h.released_at.is_(None))
                             .order_by(h.user_id)).scalars())


def hold_users(conn: Connection, on: date, step: str, chunk_no: int, lo: str, hi: str) -> int:
    """Hold every user of the chunk ``lo``..``hi`` on ``on``; returns the users newly held."""
    ids = list(conn.execute(select(s.users.c.id).where(and_(s.users.c.id >= lo,
                                                            s.users.c.id <= hi))).scalars())
    return insert_ignore(conn, s.held_users, [{"day": on, "user_id": u, "step": step,
                                               "chunk_no": chunk_no} for u in ids])


# ---------------------------------------------------------------- a broken ledger
def record_problem(conn: Connection, on: date, problem: str) -> None:
    """What a ledger proof found broken on ``on``'s close row; a close already finished
    is marked broken (one still running is, when it finishes)."""
    c = s.cycle_runs.c
    where = (c.day == on, c.step == CLOSE)
    conn.execute(update(s.cycle_runs).where(*where).values(problem=problem[:4000]))
    conn.execute(update(s.cycle_runs).where(*where, c.status.in_((DONE, EXCEPTIONS)))
                 .values(status=BROKEN))


def broken_close(conn: Connection) -> Any | None:
    """The oldest close row whose ledger proof failed and nobody has proven again."""
    c = s.cycle_runs.c
    return conn.execute(select(s.cycle_runs).where(c.step == CLOSE, c.status == BROKEN)
                        .order_by(c.day).limit(1)).first()
