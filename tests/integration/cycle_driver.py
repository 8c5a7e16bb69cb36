"""Drive the Celery cycle's state machine in this process: the messages ``workers.cycle``
returns are run one by one, as workers would, without a broker."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

from sqlalchemy import Engine

from domain.config import ProductConfig
from workers import cycle
from workers.bank import BankChannel


def drive(engine: Engine, messages: Iterable[cycle.ChunkMessage], config: ProductConfig,
          channel: BankChannel,
          before: Callable[[cycle.ChunkMessage], None] | None = None) -> list[str]:
    """Run every message and what follows it; returns the steps run, in order."""
    queue, ran = list(messages), []
    while queue:
        m = queue.pop(0)
        if before is not None:
            before(m)
        on = date.fromisoformat(m.date)
        cycle.run_chunk(engine, on, m.key, m.chunk_no, m.lo, m.hi, config, channel)
        ran.append(f"{m.date} {m.key.label}")
        queue += cycle.chunk_completed(engine, on, m.key, config)
    return ran
