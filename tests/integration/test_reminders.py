"""Reminders (SPEC 6 and 14): a reminder dated D is written by the close of D, which runs
after D has ended, so it is sent on D+1 inside `reminder_window` (08:00-21:00) of the
deployment's time zone; past that window it expires unsent, never sent late.

The reminder here is a due_soon: the standard loan disbursed 2026-01-15 falls due on
2026-02-15, so the collect step of D = 2026-02-12 (due date - 3) writes one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from adapters.sinks import sink_for
from domain.config import ProductConfig
from store import schema as s
from tests.support.helpers import LoanSpec, migrated_engine, seed_portfolio
from workers import relays, steps

D = date(2026, 2, 12)
NEXT = date(2026, 2, 13)


@pytest.fixture
def reminded(db_url: str) -> Iterator[tuple[Engine, ProductConfig]]:
    """A database where the collect step of D wrote one due_soon reminder."""
    engine = migrated_engine(db_url)
    try:
        sc = seed_portfolio(engine, [{"id": "u1", "score": 640, "limit": 500000}],
                            [LoanSpec("L1", "u1", 120000, 1800, 3, date(2026, 1, 15))],
                            start=D)
        steps.collect_chunk(engine, D, "u1", "u1", 0, sc.config)
        yield engine, sc.config
    finally:
        engine.dispose()


def _at(day: date, hh_mm: str, config: ProductConfig) -> datetime:
    return datetime.combine(day, time.fromisoformat(hh_mm), ZoneInfo(config.time_zone))


def _dispatch(engine: Engine, at: datetime, out: Path) -> tuple[int, int]:
    """One run of the notifications relay at ``at`` (business clock) into ``file://out``:
    (reminders delivered, reminders expired)."""
    result = relays.run(engine, "notifications", sink_for(f"file://{out}", None),
                        business_now=lambda: at, max_attempts=10)
    return result.delivered, result.expired


def _statuses(engine: Engine) -> list[tuple[date, str, str]]:
    n = s.notifications.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(n.day, n.kind, n.status))]


def test_the_close_of_d_dates_the_window_of_its_reminders_on_the_next_day(
        reminded: tuple[Engine, ProductConfig]) -> None:
    engine, config = reminded
    n = s.notifications.c
    with engine.connect() as conn:
        row = conn.execute(select(n.day, n.send_from, n.send_until)).one()
    assert row.day == D
    assert row.send_from == _at(NEXT, "08:00", config)
    assert row.send_until == _at(NEXT, "21:00", config)


@pytest.mark.parametrize(("clock", "sent", "expired", "status"), [
    ("07:59", 0, 0, "pending"),
    ("08:00", 1, 0, "sent"),
    ("20:59", 1, 0, "sent"),
    ("21:00", 0, 1, "expired"),
])
def test_a_reminder_dated_d_is_sent_on_d_plus_1_inside_the_window_and_expires_after_it(
        reminded: tuple[Engine, ProductConfig], clock: str, sent: int, expired: int,
        status: str, tmp_path: Path) -> None:
    engine, config = reminded
    assert _dispatch(engine, _at(NEXT, clock, config), tmp_path) == (sent, expired)
    assert _statuses(engine) == [(D, "due_soon", status)]


def test_a_sent_reminder_is_never_sent_again_nor_expired_and_an_expired_one_stays_unsent(
        reminded: tuple[Engine, ProductConfig], tmp_path: Path) -> None:
    engine, config = reminded
    assert _dispatch(engine, _at(NEXT, "07:59", config), tmp_path) == (0, 0)
    assert _dispatch(engine, _at(NEXT, "08:00", config), tmp_path) == (1, 0)
    assert _dispatch(engine, _at(NEXT, "08:15", config), tmp_path) == (0, 0)
    assert _dispatch(engine, _at(NEXT, "21:00", config), tmp_path) == (0, 0)
    assert _statuses(engine) == [(D, "due_soon", "sent")]
    files = list((tmp_path / "notifications").glob("*.json"))
    assert len(files) == 1 and '"loan":"L1"' in files[0].read_text()


def test_a_reminder_nobody_dispatched_in_its_window_expires_and_is_not_sent_the_day_after(
        reminded: tuple[Engine, ProductConfig], tmp_path: Path) -> None:
    engine, config = reminded
    day_after = date(2026, 2, 14)
    assert _dispatch(engine, _at(day_after, "09:00", config), tmp_path) == (0, 1)
    assert _dispatch(engine, _at(day_after, "09:15", config), tmp_path) == (0, 0)
    assert _statuses(engine) == [(D, "due_soon", "expired")]
    assert not (tmp_path / "notifications").exists()
