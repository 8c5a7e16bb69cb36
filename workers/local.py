"""Close business dates in this process through the Celery cycle's own state machine.

The scenario runner uses it. The messages ``workers.cycle`` returns are run
one by one, as workers would run them, without a broker: the same steps in
the same order (``domain.steps``), and the same cycle rows, so a database a
scenario ran on reads like one the workers closed (``cycle run`` goes on from
its next date; status, the report and explain need no special case).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import TYPE_CHECKING

from domain.config import ProductConfig
from store.engine import Engine
from workers.bank import BankChannel

if TYPE_CHECKING:
    from workers.cycle import ChunkMessage

Progress = Callable[[str, int, int], None]
BeforeChunk = Callable[["ChunkMessage"], None]
# workers.cycle is imported when used: it reads the settings on import, and the CLI,
# which imports this module, must start first to report a bad setting (exit 2).


def drive(engine: Engine, messages: Iterable[ChunkMessage], config: ProductConfig,
          channel: BankChannel, progress: Progress | None = None,
          before_chunk: BeforeChunk | None = None) -> int:
    """Run every chunk message and every message its completion leads to, as the chunk
    task does (an attempt counted, the chunk, its completion); returns the rows written.
    ``before_chunk`` is called with each message before it runs (a drill that replays
    what happened between two chunks hooks in there)."""
    from workers import cycle

    rows, batch = 0, list(messages)
    while batch:
        following: list[ChunkMessage] = []
        for n, m in enumerate(batch, 1):
            on = date.fromisoformat(m.date)
            if before_chunk:
                before_chunk(m)
            cycle.start_attempt(engine, on, m.key, m.chunk_no)
            rows += cycle.run_chunk(engine, on, m.key, m.chunk_no, m.lo, m.hi, config, channel)
            if progress:
                progress(m.key.label, n, len(batch))
            following += cycle.chunk_completed(engine, on, m.key, config)
        batch = following
    return rows


def close_date(engine: Engine, on: date, config: ProductConfig, channel: BankChannel, *,
               daytime_attempts: bool = True, progress: Progress | None = None,
               before_chunk: BeforeChunk | None = None) -> None:
    """The daytime deduction attempts of ``on`` (they run once ``on - 1`` is closed), then
    the close of business of the dates up to ``on`` not yet closed, oldest first. A close
    this process left running (it was killed) goes on where it stopped. ``before_chunk``
    as in :func:`drive`."""
    from workers import cycle

    if daytime_attempts:
        for at in config.deduct_attempt_times:
            drive(engine, cycle.begin_attempt(engine, on, at, config), config, channel, progress,
                  before_chunk)
    resend, complete = cycle.stuck_chunks(engine, 0, config)
    drive(engine, resend, config, channel, progress, before_chunk)
    for day, step in complete:
        drive(engine, cycle.force_advance(engine, day, step, config), config, channel, progress,
              before_chunk)
    drive(engine, cycle.begin(engine, on, config), config, channel, progress, before_chunk)
