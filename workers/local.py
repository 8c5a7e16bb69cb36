"""Close business dates in this process, chunk by chunk, through the step functions.

The scenario runner uses it; the Celery cycle runs the very same step
functions, one task per chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import Engine

from domain.config import ProductConfig
from domain.deduction import CLOSE_OF_BUSINESS
from store import cycle as cyc
from workers import steps
from workers.bank import BankChannel

ChunkFn = Callable[[int, str, str], int]
# A step's chunk function: (engine, on, lo, hi, chunk_no, config) -> rows.
StepChunkFn = Callable[[Engine, date, str, str, int, ProductConfig], int]
Progress = Callable[[str, int, int], None]


def attempt_code(at: str) -> str:
    """``HH:MM`` as the step suffix ``HHMM``."""
    return at.replace(":", "")


def run_step(engine: Engine, on: date, step: str, chunks: list[tuple[int, str, str]],
             fn: ChunkFn, progress: Progress | None = None) -> int:
    """Run every chunk of ``step`` in process, unless it already ended; returns the rows."""
    with engine.begin() as conn:
        row = cyc.step_row(conn, on, step)
        if row is not None and row.status != cyc.RUNNING:
            return 0
        cyc.start_step(conn, on, step, len(chunks))
    rows = 0
    for n, (chunk_no, lo, hi) in enumerate(chunks, 1):
        rows += fn(chunk_no, lo, hi)
        if progress:
            progress(step, n, len(chunks))
    with engine.begin() as conn:
        from sqlalchemy import update

        from store import schema as s

        c = s.cycle_runs.c
        conn.execute(update(s.cycle_runs).where(c.day == on, c.step == step)
                     .values(done=len(chunks)))
        cyc.finish_step(conn, on, step)
    return rows


def close_date(engine: Engine, on: date, config: ProductConfig, channel: BankChannel, *,
               daytime_attempts: bool = True, progress: Progress | None = None) -> None:
    """Daytime deduction attempts of ``on``, then its close of business, recorded by a
    ``close`` row as the Celery cycle records it: a database a scenario ran on is closed
    through its last date for ``cycle run`` too, which goes on from the next one."""
    from workers.cycle import CLOSE

    with engine.begin() as conn:
        chunks = cyc.plan_chunks(conn, on, config.chunk_size)
        cyc.start_step(conn, on, CLOSE, 1)
    attempts = [attempt_code(t) for t in config.deduct_attempt_times] if daytime_attempts else []
    for attempt in [*attempts, CLOSE_OF_BUSINESS]:
        def deduct(n: int, lo: str, hi: str, a: str = attempt) -> int:
            return steps.deduct(engine, on, lo, hi, n, config, channel, a)

        run_step(engine, on, steps.deduct_step(attempt), chunks, deduct, progress)
    for name, fn in ((steps.OVERDUE_STEP, steps.overdue_chunk), (steps.SCORE, steps.score_chunk),
                     (steps.LIMIT, steps.limit_chunk), (steps.COLLECT, steps.collect_chunk)):
        def chunk(n: int, lo: str, hi: str, f: StepChunkFn = fn) -> int:
            return f(engine, on, lo, hi, n, config)

        run_step(engine, on, name, chunks, chunk, progress)
    steps.handoff_pass(engine, on)
    run_step(engine, on, steps.RECONCILE, chunks,
             lambda n, lo, hi: steps.reconcile_chunk(engine, on, lo, hi, n, config, channel),
             progress)
    steps.reconcile_close(engine, on)
    steps.bureau_month_file(engine, on)
    with engine.begin() as conn:
        held = cyc.held_user_ids(conn, on)
        if cyc.finish_step(conn, on, CLOSE, cyc.EXCEPTIONS if held else cyc.DONE, "in-process"):
            from sqlalchemy import update

            from store import schema as s

            c = s.cycle_runs.c
            conn.execute(update(s.cycle_runs).where(c.day == on, c.step == CLOSE).values(done=1))
