"""Cycle state: which steps of which business dates ran, chunk by chunk.

The rows here are the night's watermark. Starting a step is an insert that
does nothing when the row exists; a chunk's completion row is written in the
transaction of its effects; the chunk that completes a step is the one whose
atomic increment returns the total.

A step is a ``domain.steps.StepKey``, kept as typed fields (``step``, ``at``,
``run``); a date's own row (its close) is the step ``close``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from domain.steps import CLOSE, NIGHT_RUN, Step, StepKey
from store import schema as s
from store.engine import now

DONE = "done"
RUNNING = "running"
EXCEPTIONS = "done_with_exceptions"
HELD = "held"  # a step the night went on without, waiting for an operator (no agency)
BROKEN = "ledger_broken"  # a close whose ledger proof failed: not closed until an operator acts
CLOSE_FIELDS = {"step": CLOSE, "at": "", "run": NIGHT_RUN}  # a date's own row


def fields(key: StepKey) -> dict[str, str]:
    """The typed fields a step key is stored as."""
    return {"step": key.step.value, "at": key.at, "run": key.run}


def key_of(row: Any) -> StepKey:
    """The step key of a row's fields (a step's row, not a close row)."""
    return StepKey.of(row.step, row.at, row.run)


def label_of(row: Any) -> str:
    """How people read a row's step: ``close``, ``deduct@0600``, ``limit#release``."""
    return CLOSE if row.step == CLOSE else key_of(row).label


def _is(table: Table, key: StepKey) -> tuple[ColumnElement[bool], ...]:
    c = table.c
    return c.step == key.step.value, c.at == key.at, c.run == key.run


def _chunk(on: date, key: StepKey, chunk_no: int) -> tuple[ColumnElement[bool], ...]:
    c = s.chunk_runs.c
    return (c.day == on, *_is(s.chunk_runs, key), c.chunk_no == chunk_no)


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


def _locked_chunk_row(conn: Connection, on: date, key: StepKey, chunk_no: int) -> Any:
    """This chunk's bookkeeping row, created if missing, locked for the transaction."""
    insert_ignore(conn, s.chunk_runs, [{"day": on, **fields(key), "chunk_no": chunk_no,
                                        "attempts": 0}])
    q = select(s.chunk_runs).where(*_chunk(on, key, chunk_no))
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).one()


def claim_chunk(conn: Connection, on: date, key: StepKey, chunk_no: int) -> Any | None:
    """Lock this chunk's row for the transaction; None when it is already done."""
    row = _locked_chunk_row(conn, on, key, chunk_no)
    return None if row.done_at is not None else row


def set_phase(conn: Connection, on: date, key: StepKey, chunk_no: int, phase: str) -> None:
    """Record how far a chunk has got (its ``phase``)."""
    conn.execute(update(s.chunk_runs).where(*_chunk(on, key, chunk_no))
                 .values(phase=phase))


def complete_chunk(conn: Connection, on: date, key: StepKey, chunk_no: int, rows: int) -> None:
    """Mark a chunk done with the rows it wrote."""
    conn.execute(update(s.chunk_runs).where(*_chunk(on, key, chunk_no))
                 .values(done_at=now(), rows=rows, phase="done"))


def count_attempt(conn: Connection, on: date, key: StepKey, chunk_no: int, *,
                  lease_s: float = 300, redelivered: bool = False) -> int | None:
    """Count one more attempt of a chunk, committed before any work.

    Returns the count, or None when the chunk is already done. A fresh copy of
    a message whose chunk another worker is running now (its lease is live) is
    not an attempt: it waits for the chunk's lock and finds it done. A message
    the broker redelivers (its worker died holding it) always counts, so a
    chunk that kills its worker is quarantined.
    """
    c = s.chunk_runs.c
    row = _locked_chunk_row(conn, on, key, chunk_no)
    if row.done_at is not None:
        return None
    at = now()
    live = row.leased_at is not None and (at - row.leased_at).total_seconds() < lease_s
    if live and not redelivered:
        return int(row.attempts)
    conn.execute(update(s.chunk_runs).where(*_chunk(on, key, chunk_no))
                 .values(attempts=c.attempts + 1, leased_at=at))
    return int(row.attempts) + 1


def chunk_done(conn: Connection, on: date, key: StepKey, chunk_no: int) -> bool:
    """Whether the chunk has been completed."""
    c = s.chunk_runs.c
    return conn.execute(select(c.done_at).where(
        *_chunk(on, key, chunk_no))).scalar() is not None


def record_error(conn: Connection, on: date, key: StepKey, chunk_no: int, error: str) -> None:
    """Keep the last error of a chunk (its first 4,000 characters)."""
    conn.execute(update(s.chunk_runs).where(*_chunk(on, key, chunk_no))
                 .values(last_error=error[:4000]))


# ---------------------------------------------------------------- steps of a date
def _start(conn: Connection, on: date, step: dict[str, str], total: int) -> bool:
    return insert_ignore(conn, s.cycle_runs, [{"day": on, **step, "status": RUNNING,
                                               "total": total, "done": 0,
                                               "started_at": now()}]) == 1


def start_step(conn: Connection, on: date, key: StepKey, total: int) -> bool:
    """Create the (date, step) row; False when somebody already started it."""
    return _start(conn, on, fields(key), total)


def start_close(conn: Connection, on: date) -> bool:
    """Create the close row of ``on`` (one unit of work: its last step); False when
    somebody already started it."""
    return _start(conn, on, CLOSE_FIELDS, 1)


def step_row(conn: Connection, on: date, key: StepKey) -> Any | None:
    """The (date, step) row, or None when the step has not started."""
    c = s.cycle_runs.c
    return conn.execute(select(s.cycle_runs).where(c.day == on, *_is(s.cycle_runs, key))
                        ).first()


def close_row(conn: Connection, on: date) -> Any | None:
    """The close row of ``on``, or None when its close has not started."""
    c = s.cycle_runs.c
    return conn.execute(select(s.cycle_runs).where(c.day == on, c.step == CLOSE)).first()


def chunk_finished(conn: Connection, on: date, key: StepKey) -> tuple[int, int]:
    """A chunk of the step is done: atomically recount; returns (done, total).

    The count is of completion rows, not an increment, so a message delivered
    twice after its chunk finished cannot count it twice.
    """
    c, k = s.cycle_runs.c, s.chunk_runs.c
    # Planned chunks are numbered 0..total-1: a row of any other number is not counted.
    finished = (select(func.count()).select_from(s.chunk_runs)
                .where(k.day == on, *_is(s.chunk_runs, key), k.done_at.is_not(None),
                       k.chunk_no < c.total)
                .scalar_subquery())
    row = conn.execute(update(s.cycle_runs).where(c.day == on, *_is(s.cycle_runs, key))
                       .values(done=finished)
                       .returning(c.done, c.total)).one()
    return int(row.done), int(row.total)


def finish_step(conn: Connection, on: date, key: StepKey, status: str = DONE,
                detail: str | None = None) -> bool:
    """End a running step with ``status``; False when it was not running."""
    return _finish(conn, on, _is(s.cycle_runs, key), status, detail)


def finish_close(conn: Connection, on: date, status: str = DONE,
                 detail: str | None = None) -> bool:
    """End the running close of ``on`` with ``status``; False when it was not running."""
    return _finish(conn, on, (s.cycle_runs.c.step == CLOSE,), status, detail)


def _finish(conn: Connection, on: date, which: tuple[ColumnElement[bool], ...], status: str,
            detail: str | None) -> bool:
    c = s.cycle_runs.c
    result = conn.execute(update(s.cycle_runs)
                          .where(c.day == on, *which, c.status == RUNNING)
                          .values(status=status, finished_at=now(), detail=detail))
    return result.rowcount == 1


def steps_of(conn: Connection, on: date) -> list[Any]:
    """The step rows of ``on``, in the order they started."""
    c = s.cycle_runs.c
    return list(conn.execute(select(s.cycle_runs).where(c.day == on).order_by(c.started_at)))


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


# ---------------------------------------------------------------- closed dates
CLOSED = (DONE, EXCEPTIONS)  # a close that ended so: its date is closed


def last_closed(conn: Connection) -> date | None:
    """The newest business date whose close ended (done, or done with exceptions)."""
    c = s.cycle_runs.c
    value: date | None = conn.execute(select(func.max(c.day)).where(
        c.step == CLOSE, c.status.in_(CLOSED))).scalar()
    return value


def is_closed(conn: Connection, day: date) -> bool:
    """Whether the close of ``day`` ended (as ``last_closed`` counts it)."""
    c = s.cycle_runs.c
    return conn.execute(select(c.day).where(c.day == day, c.step == CLOSE,
                                            c.status.in_(CLOSED))).first() is not None


def open_close(conn: Connection) -> date | None:
    """The earliest date whose close is still running, or None."""
    c = s.cycle_runs.c
    value: date | None = conn.execute(select(func.min(c.day)).where(
        c.step == CLOSE, c.status == RUNNING)).scalar()
    return value


# ---------------------------------------------------------------- the state machine's writes
def set_target(conn: Connection, on: date, target: date) -> None:
    """The date the catch-up that started ``on``'s close runs to."""
    c = s.cycle_runs.c
    conn.execute(update(s.cycle_runs).where(c.day == on, c.step == CLOSE).values(target=target))


def count_close(conn: Connection, on: date) -> None:
    """The close row's one unit of work (its last step) is done."""
    c = s.cycle_runs.c
    conn.execute(update(s.cycle_runs).where(c.day == on, c.step == CLOSE).values(done=1))


def count_all(conn: Connection, on: date, key: StepKey) -> None:
    """Count every chunk of a step as done (the watchdog advancing it)."""
    c = s.cycle_runs.c
    conn.execute(update(s.cycle_runs).where(c.day == on, *_is(s.cycle_runs, key))
                 .values(done=c.total))


def chunk_row(conn: Connection, on: date, key: StepKey, chunk_no: int) -> Any | None:
    """A chunk's bookkeeping row, or None."""
    return conn.execute(select(s.chunk_runs).where(
        *_chunk(on, key, chunk_no))).first()


def days_with(conn: Connection, key: StepKey, status: str) -> list[date]:
    """The dates whose step ``key`` is in ``status``, oldest first."""
    c = s.cycle_runs.c
    return list(conn.execute(select(c.day).where(*_is(s.cycle_runs, key), c.status == status)
                             .order_by(c.day)).scalars())


def held_step_done(conn: Connection, on: date, key: StepKey) -> None:
    """A held step went through: done, its cause cleared."""
    c = s.cycle_runs.c
    conn.execute(update(s.cycle_runs).where(c.day == on, *_is(s.cycle_runs, key),
                                            c.status == HELD)
                 .values(status=DONE, detail=None))


def forget_attempt(conn: Connection, on: date, key: StepKey, chunk_no: int) -> None:
    """Take back a chunk's last attempt count and its lease."""
    c = s.chunk_runs.c
    conn.execute(update(s.chunk_runs).where(
        *_chunk(on, key, chunk_no), c.attempts > 0)
        .values(attempts=c.attempts - 1, leased_at=None))


def end_lease(conn: Connection, on: date, key: StepKey, chunk_no: int) -> None:
    """A chunk's attempt is over: nobody holds its lease."""
    conn.execute(update(s.chunk_runs).where(
        *_chunk(on, key, chunk_no)).values(leased_at=None))


def mark_quarantined(conn: Connection, on: date, key: StepKey, chunk_no: int) -> None:
    """A chunk given up on: finished, with nothing written, in phase ``quarantined``."""
    c = s.chunk_runs.c
    conn.execute(update(s.chunk_runs).where(c.day == on, *_is(s.chunk_runs, key),
                                            c.chunk_no == chunk_no)
                 .values(done_at=now(), phase="quarantined", rows=0))


def running_steps(conn: Connection) -> list[Any]:
    """The step rows still running (the close rows left out)."""
    r = s.cycle_runs.c
    return list(conn.execute(select(s.cycle_runs).where(r.status == RUNNING, r.step != CLOSE)))


def finished_chunks(conn: Connection, on: date, key: StepKey, total: int) -> set[int]:
    """The planned chunks (0..total-1) of a step that are done."""
    k = s.chunk_runs.c
    return set(conn.execute(select(k.chunk_no).where(
        k.day == on, *_is(s.chunk_runs, key), k.done_at.is_not(None), k.chunk_no < total)
    ).scalars())


def leased_chunks(conn: Connection, on: date, key: StepKey, since: Any) -> set[int]:
    """The chunks of a step not done that some worker started after ``since``."""
    k = s.chunk_runs.c
    return set(conn.execute(select(k.chunk_no).where(
        k.day == on, *_is(s.chunk_runs, key), k.done_at.is_(None), k.leased_at > since)).scalars())


def proven_again(conn: Connection, on: date, status: str, detail: str) -> None:
    """A broken close whose ledger holds again: it ends ``status``, its problem cleared."""
    c = s.cycle_runs.c
    conn.execute(update(s.cycle_runs).where(c.day == on, c.step == CLOSE, c.status == BROKEN)
                 .values(status=status, problem=None, detail=detail))


def daytime_keys(conn: Connection, on: date) -> list[StepKey]:
    """The daytime deduction attempts that started on ``on`` (the night's, not a
    release's), in the order of their times."""
    c = s.cycle_runs.c
    return [key_of(r) for r in conn.execute(
        select(c.step, c.at, c.run).where(c.day == on, c.step == Step.DEDUCT.value,
                                          c.at != "", c.run == NIGHT_RUN).order_by(c.at))]


def close_before(conn: Connection, first: date, detail: str) -> None:
    """Record that the day before ``first`` is closed: the cycle starts at ``first`` (a new
    portfolio: a seed, a scenario, an import), ``detail`` says which."""
    before = first - timedelta(days=1)
    start_close(conn, before)
    finish_close(conn, before, detail=detail)


def mark_closed_before(engine: Engine, first: date) -> None:
    """Record that the day before ``first`` is closed (a seed or a scenario)."""
    with engine.begin() as conn:
        close_before(conn, first, "seeded")
