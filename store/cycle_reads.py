"""Reads of the cycle rows for whoever watches or reports a night: what has closed, what
runs, who is held, what each step did (``store.cycle`` writes them). Nothing here writes;
each read is one indexed statement. A row names its step by typed fields; ``label_of``
gives how people read it (``deduct@0600``, ``limit#release``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, case, func, select

from domain.steps import CLOSE
from store import cycle as cyc
from store import schema as s
from store.cycle import label_of as label_of  # noqa: PLC0414 (re-exported)


def last_closed_day(conn: Connection) -> date | None:
    """The newest business date whose close of business finished (``store.cycle``'s: the
    in-process runner writes the same close rows as the Celery cycle)."""
    return cyc.last_closed(conn)


def is_closed_day(conn: Connection, day: date) -> bool:
    """Whether the close of business of ``day`` finished."""
    return cyc.is_closed(conn, day)


def closed_through(conn: Connection) -> date | None:
    """The last date whose close is done (or done with exceptions), or None."""
    return cyc.last_closed(conn)


def current_step(conn: Connection) -> tuple[date, str, int, int] | None:
    """The running step to show: (date, step as people read it, chunks done, chunks), or
    None."""
    c = s.cycle_runs.c
    row = conn.execute(select(c.day, c.step, c.at, c.run, c.total).where(
        c.status == cyc.RUNNING, c.step != CLOSE).order_by(c.day, c.started_at.desc())
        .limit(1)).first()
    if row is None:
        return None
    k = s.chunk_runs.c
    done = conn.execute(select(func.count()).select_from(s.chunk_runs).where(
        k.day == row.day, k.step == row.step, k.at == row.at, k.run == row.run,
        k.done_at.is_not(None))).scalar_one()
    return row.day, label_of(row), int(done), int(row.total)


def fingerprint(conn: Connection, since: date) -> tuple[Any, ...]:
    """Everything that changes when the cycle moves from ``since`` on: steps started,
    counted or finished, chunks leased or done. Equal fingerprints mean nothing moved."""
    c, k = s.cycle_runs.c, s.chunk_runs.c
    steps = conn.execute(select(func.count(), func.sum(c.done), func.max(c.finished_at),
                                func.count(c.finished_at)).where(c.day >= since)).one()
    chunks = conn.execute(select(func.count(k.done_at), func.max(k.leased_at),
                                 func.sum(k.attempts)).where(k.day >= since)).one()
    return (*steps, *chunks)


def latest_day(conn: Connection) -> date | None:
    """The newest business date any step started for, or None."""
    value: date | None = conn.execute(select(func.max(s.cycle_runs.c.day))).scalar()
    return value


def held_as_of(conn: Connection, on: date) -> list[str]:
    """The users held on ``on`` or before and not released, by id."""
    h = s.held_users.c
    return list(conn.execute(select(h.user_id).where(h.released_at.is_(None), h.day <= on)
                             .order_by(h.user_id)).scalars())


def quarantined_chunks(conn: Connection, on: date) -> list[Any]:
    """The quarantined chunks of ``on``: (step, at, run, chunk_no, last_error) rows."""
    k = s.chunk_runs.c
    return list(conn.execute(select(k.step, k.at, k.run, k.chunk_no, k.last_error).where(
        k.day == on, k.phase == "quarantined")).all())


def is_held(conn: Connection, on: date, user_id: str) -> bool:
    """Whether ``user_id`` is held on ``on`` or before and not released."""
    h = s.held_users.c
    return conn.execute(select(h.user_id).where(
        h.user_id == user_id, h.day <= on, h.released_at.is_(None))).first() is not None


def step_runs(conn: Connection, day: date) -> list[Any]:
    """The step rows of ``day`` (its close row too), in the order they started."""
    c = s.cycle_runs.c
    return list(conn.execute(select(s.cycle_runs).where(c.day == day)
                             .order_by(c.started_at, c.step, c.at, c.run)))


def chunk_stats(conn: Connection, day: date) -> list[Any]:
    """Per step key of ``day`` (its step, at, run): chunks, rows, attempts, quarantined
    chunks, last error."""
    k = s.chunk_runs.c
    quarantined = func.sum(case((k.phase == "quarantined", 1), else_=0))
    return list(conn.execute(select(
        k.step, k.at, k.run, func.count().label("chunks"),
        func.coalesce(func.sum(k.rows), 0).label("rows"),
        func.coalesce(func.sum(k.attempts), 0).label("attempts"),
        quarantined.label("quarantined"), func.max(k.last_error).label("error"))
        .where(k.day == day).group_by(k.step, k.at, k.run).order_by(k.step, k.at, k.run)))
