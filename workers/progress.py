"""Watch the cycle from the database: a live progress bar and a status table.

Progress lives in the cycle rows, so any process that can read the database
(the CLI, a dashboard, a test) sees the same numbers the workers write.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from store import cycle as cyc
from store import cycle_reads as watch
from store.engine import Engine
from workers import settings
from workers.cycle import LedgerBroken, broken

console = Console(stderr=True)


def closed_through(engine: Engine) -> date | None:
    """The last date closed (done or with exceptions), or None."""
    with engine.connect() as conn:
        return cyc.last_closed(conn)


def current_step(engine: Engine) -> tuple[date, str, int, int] | None:
    """The running step to show: (date, step, chunks done, chunks), or None."""
    with engine.connect() as conn:
        return watch.current_step(conn)


class WaitError(RuntimeError):
    """``--wait`` gave up: nothing moved and nothing it could re-send made it move."""


def _fingerprint(engine: Engine, since: date) -> tuple[Any, ...]:
    """Everything that changes when the cycle moves: steps started, counted or finished,
    chunks leased or done. Equal fingerprints mean nothing moved in between."""
    with engine.connect() as conn:
        return watch.fingerprint(conn, since)


def _describe(engine: Engine, target: date) -> str:
    """What the cycle is doing now, in one line, for the messages of ``--wait``."""
    last = closed_through(engine)
    cur = current_step(engine)
    with engine.connect() as conn:
        opened = cyc.open_close(conn)
    where = f"closed through {last}" if last else "no date closed yet"
    if cur:
        day, step, done, total = cur
        return f"{where}; {day} {step} at {done}/{total} chunks"
    if opened is not None:
        return (f"{where}; the close of {opened} is open but none of its steps is running "
                "(its steps were run by something else, e.g. the in-process scenario runner)")
    return f"{where}; no close is running, and none can start towards {target}"


def wait_for(engine: Engine, target: date, first: date, *, timeout: float = 86_400,
             show: bool = True, poll: float = 0.25, config: Any = None,
             stall_s: float | None = None, patience_s: float | None = None) -> None:
    """Drive the night until ``target`` is closed, drawing dates and chunks as they finish.

    This loop is what drives a night when no beat runs (``cycle run --wait``, the
    demo), so it does the watchdog's work in this process: whenever nothing has moved
    for ``stall_s`` it re-sends lost chunk messages and advances steps whose next step
    was never started, and once no close is open it starts the next date towards
    ``target`` (another run may have set a nearer target, or the run message may have
    been lost with a stopped Redis). It raises ``WaitError`` naming the state when the
    cycle cannot move by itself, when nothing has moved for ``patience_s``, or at
    ``timeout``.
    """
    from workers import runtime
    from workers.celery_app import TASK_TIME_LIMIT

    cfg = config if config is not None else runtime.config()
    if stall_s is None:
        stall_s = settings.get().stall_seconds
    if patience_s is None:
        patience_s = float(TASK_TIME_LIMIT * 2 + stall_s)
    total_days = (target - first).days + 1
    deadline = time.monotonic() + timeout
    columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    say = console.print if show else (lambda *_a, **_k: None)
    say(f"waiting for business dates {first} .. {target} to close "
        f"({_describe(engine, target)})")
    seen = _fingerprint(engine, first)
    moved_at = checked_at = time.monotonic()
    with Progress(*columns, console=console, disable=not show, transient=False) as bar:
        days = bar.add_task("business dates", total=total_days)
        chunks = bar.add_task("chunks", total=1)
        while True:
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
                return
            stop = broken(engine)
            if stop is not None and stop.day <= target:
                raise LedgerBroken(stop)
            started = _start_next(engine, target, cfg)
            now = time.monotonic()
            mark = _fingerprint(engine, first)
            if mark != seen or started:
                seen, moved_at, checked_at = mark, now, now
            elif now - checked_at >= stall_s:
                checked_at = now
                done_any = _recover(engine, cfg, stall_s, say)
                if not done_any and cur is None:
                    raise WaitError(f"the cycle cannot move: {_describe(engine, target)}; "
                                    f"see `creditcycle cycle status`")
            if now - moved_at >= patience_s:
                raise WaitError(f"nothing has moved for {now - moved_at:.0f}s, even after "
                                f"re-sending lost work: {_describe(engine, target)}; are "
                                "workers running? see `creditcycle cycle status` and "
                                "their logs")
            if now >= deadline:
                raise WaitError(f"{target} not closed within {timeout:.0f}s: "
                                f"{_describe(engine, target)}")
            time.sleep(poll)


def _start_next(engine: Engine, target: date, config: Any) -> bool:
    """Start the next date towards ``target`` when no close is open (a no-op otherwise)."""
    from workers import cycle
    from workers.tasks import send

    with engine.connect() as conn:
        if cyc.open_close(conn) is not None:
            return False
    return send(cycle.begin(engine, target, config)) > 0


def _recover(engine: Engine, config: Any, stall_s: float, say: Any) -> bool:
    from workers.tasks import recover_lost

    done = recover_lost(engine, config, stall_s)
    if done["resent"] or done["advanced"]:
        say(f"nothing moved for {stall_s:.0f}s: re-sent {done['resent']} lost chunk "
            f"message(s), advanced {done['advanced']} finished step(s)")
        return True
    return False


def status_table(engine: Engine, on: date | None = None) -> tuple[Table, list[str]]:
    """The steps of a date (default: the latest one started) and the held users."""
    with engine.connect() as conn:
        if on is None:
            on = watch.latest_day(conn)
        table = Table(title=f"business date {on}" if on else "no cycle has run yet")
        for col in ("step", "status", "chunks", "started", "finished", "detail"):
            table.add_column(col)
        held: list[str] = []
        if on is None:
            return table, held
        for r in cyc.steps_of(conn, on):
            table.add_row(watch.label_of(r), r.status, f"{r.done}/{r.total}", _t(r.started_at),
                          _t(r.finished_at), "; ".join(x for x in (r.problem, r.detail) if x))
        held = watch.held_as_of(conn, on)
        for q in watch.quarantined_chunks(conn, on):
            table.add_row(f"{watch.label_of(q)} #{q.chunk_no}", "quarantined", "", "", "",
                          q.last_error or "")
        return table, held


def _t(value: Any) -> str:
    return value.strftime("%H:%M:%S") if value else ""
