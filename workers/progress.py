"""Watch the cycle from the database: a live progress bar and a status table.

Progress lives in the cycle rows, so any process that can read the database
(the CLI, a dashboard, a test) sees the same numbers the workers write.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine, func, select

from store import cycle as cyc
from store import schema as s
from workers.cycle import CLOSE, LedgerBroken, broken

console = Console(stderr=True)


def closed_through(engine: Engine) -> date | None:
    c = s.cycle_runs.c
    with engine.connect() as conn:
        return conn.execute(select(func.max(c.day)).where(
            c.step == CLOSE, c.status.in_((cyc.DONE, cyc.EXCEPTIONS)))).scalar()


def current_step(engine: Engine) -> tuple[date, str, int, int] | None:
    c = s.cycle_runs.c
    with engine.connect() as conn:
        row = conn.execute(select(c.day, c.step, c.total).where(
            c.status == cyc.RUNNING, c.step != CLOSE).order_by(c.day, c.started_at.desc())
            .limit(1)).first()
        if row is None:
            return None
        k = s.chunk_runs.c
        done = conn.execute(select(func.count()).select_from(s.chunk_runs).where(
            k.day == row.day, k.step == row.step, k.done_at.is_not(None))).scalar_one()
        return row.day, row.step, int(done), int(row.total)


def wait_for(engine: Engine, target: date, first: date, *, timeout: float = 86_400,
             show: bool = True, poll: float = 0.25) -> bool:
    """Block until ``target`` is closed, drawing dates and chunks as they finish."""
    total_days = (target - first).days + 1
    deadline = time.monotonic() + timeout
    columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not show, transient=False) as bar:
        days = bar.add_task("business dates", total=total_days)
        chunks = bar.add_task("chunks", total=1)
        while time.monotonic() < deadline:
            last = closed_through(engine)
            done_days = 0 if last is None else max(0, (last - first).days + 1)
            bar.update(days, completed=min(done_days, total_days),
                       description=f"closed through {last}" if last else "business dates")
            cur = current_step(engine)
            if cur:
                day, step, done, total = cur
                bar.update(chunks, completed=done, total=max(total, 1),
                           description=f"{day} {step}")
            if last is not None and last >= target:
                bar.update(chunks, completed=1, total=1, description="done")
                return True
            stop = broken(engine)
            if stop is not None and stop.day <= target:
                raise LedgerBroken(stop)
            time.sleep(poll)
    return False


def status_table(engine: Engine, on: date | None = None) -> tuple[Table, list[str]]:
    """The steps of a date (default: the latest one started) and the held users."""
    c = s.cycle_runs.c
    with engine.connect() as conn:
        if on is None:
            on = conn.execute(select(func.max(c.day))).scalar()
        table = Table(title=f"business date {on}" if on else "no cycle has run yet")
        for col in ("step", "status", "chunks", "started", "finished", "detail"):
            table.add_column(col)
        held: list[str] = []
        if on is None:
            return table, held
        for r in cyc.steps_of(conn, on):
            table.add_row(r.step, r.status, f"{r.done}/{r.total}", _t(r.started_at),
                          _t(r.finished_at), "; ".join(x for x in (r.problem, r.detail) if x))
        h = s.held_users.c
        held = list(conn.execute(select(h.user_id).where(h.released_at.is_(None), h.day <= on)
                                 .order_by(h.user_id)).scalars())
        k = s.chunk_runs.c
        quarantined = conn.execute(select(k.step, k.chunk_no, k.last_error).where(
            k.day == on, k.phase == "quarantined")).all()
        for q in quarantined:
            table.add_row(f"{q.step} #{q.chunk_no}", "quarantined", "", "", "",
                          q.last_error or "")
        return table, held


def _t(value: Any) -> str:
    return value.strftime("%H:%M:%S") if value else ""


def previous_day(d: date) -> date:
    return d - timedelta(days=1)
