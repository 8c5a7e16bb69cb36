"""Helpers for tests and drills that drive the real cycle (shipped, as users need them too)."""

from __future__ import annotations

import time
from datetime import date

from sqlalchemy import Engine, select

from domain.config import ProductConfig
from domain.steps import CLOSE
from drills.seed import seed_portfolio
from store import schema as s
from store.cycle import mark_closed_before
from store.engine import make_engine, migrate
from workers.progress import closed_through


def seeded(url: str, users: int, start: date, chunk_size: int) -> Engine:
    """Migrate ``url``, seed ``users`` synthetic users and mark the day before ``start`` closed."""
    migrate(url)
    engine = make_engine(url)
    seed_portfolio(engine, users, start, config=ProductConfig(chunk_size=chunk_size), batch=1000)
    mark_closed_before(engine, start)
    return engine


def wait_closed(engine: Engine, day: date, timeout: float = 180) -> None:
    """Wait until ``day`` is closed; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = closed_through(engine)
        if last is not None and last >= day:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{day} not closed within {timeout}s (closed through "
                       f"{closed_through(engine)})")


def close_statuses(engine: Engine, since: date) -> list[tuple[date, str]]:
    """(date, status) of each close row from ``since``."""
    c = s.cycle_runs.c
    with engine.connect() as conn:
        return [(r.day, r.status) for r in conn.execute(
            select(c.day, c.status).where(c.step == CLOSE, c.day >= since).order_by(c.day))]
