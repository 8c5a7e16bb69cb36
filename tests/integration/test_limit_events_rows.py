"""The limit events of a chunk: written by a plain COPY on PostgreSQL for many, and still
written, the one recorded already kept, when a user's limit was recalculated that day
already (the COPY refused, the savepoint undone, the rows ignoring a repeated one)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, select

from domain.limits import LimitDecision
from store import schema as s
from store.bulk import COPY_THRESHOLD
from store.decisions import insert_limit_events
from tests.support.helpers import migrated_engine

D = date(2026, 3, 1)
SIZES = [3, COPY_THRESHOLD + 50]


@pytest.fixture
def engine(db_url: str) -> Engine:
    return migrated_engine(db_url)


def decisions(n: int) -> list[LimitDecision]:
    """``n`` users, every third one's limit unchanged (no event)."""
    return [LimitDecision(f"u{k:05d}", 100, 100 if k % 3 == 0 else 200 + k,
                          () if k % 3 == 0 else ("SCORE_UP", "SPENDING_UP"), None, 1000, False)
            for k in range(n)]


def events(engine: Engine) -> list[tuple[object, ...]]:
    le = s.limit_events.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(le.day, le.user_id, le.old, le.new, le.reasons).order_by(le.user_id))]


@pytest.mark.parametrize("n", SIZES)
def test_the_limit_events_of_a_chunk_are_its_changed_limits(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        insert_limit_events(conn, D, decisions(n))
    assert events(engine) == [(D, d.user_id, d.old, d.new, ",".join(d.reasons))
                              for d in decisions(n) if d.changed]


@pytest.mark.parametrize("n", SIZES)
def test_a_limit_event_recorded_already_that_day_is_kept_and_the_others_written(
        engine: Engine, n: int) -> None:
    earlier = LimitDecision("u00001", 100, 50, ("SCORE_DOWN",), None, 1000, False)
    with engine.begin() as conn:
        insert_limit_events(conn, D, [earlier])
    with engine.begin() as conn:
        insert_limit_events(conn, D, decisions(n))
    want = [(D, d.user_id, d.old, d.new, ",".join(d.reasons)) for d in decisions(n) if d.changed]
    want[0] = (D, "u00001", 100, 50, "SCORE_DOWN")
    assert events(engine) == want
