"""A batch of events that arrives during the night neither interleaves with a chunk nor
is lost (SPEC 13): ``events.record`` takes the user row locks the chunks take.

Both orders on PostgreSQL: a batch (a top-up and a signal for the chunk's user) that
commits just before the chunk's first lock is read by the chunk as it left it; one
that arrives while the chunk holds the lock waits for the chunk's commit, then
applies on top of it (without its lock it would write back a wallet read before the
deduction, and the ledger proof would fail).
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, event, select

from domain import intake
from domain.activity import Activity
from store import schema as s
from store.ledger_checks import check_all
from tests.support.helpers import LoanSpec, migrated_engine, seed_portfolio
from workers import ingest_batches, steps
from workers.bank import SimulatedBank

D = date(2026, 2, 15)  # L1's first installment is due


def _record_when_the_chunk_locks(engine: Engine, other: Engine, config: Any) -> list[str]:
    fired: list[str] = []
    now = datetime.now(ZoneInfo(config.time_zone))

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if fired or "FOR UPDATE" not in statement or "users" not in statement:
            return
        fired.append(statement)
        batch = intake.parse_records([
            {"key": "n1", "kind": "wallet_topup", "user": "u1", "amount": 7_000},
            {"key": "n2", "kind": "job_loss", "user": "u1",
             "occurred_at": (now - timedelta(hours=1)).isoformat()}],
            now=now, zone=config.time_zone, late_event_days=7)
        with other.begin() as conn:
            ingest_batches.record_events(conn, batch, now, config)

    event.listen(engine, "before_cursor_execute", before)
    return fired


@pytest.mark.parametrize("step", ["deduct", "limit"])
def test_a_batch_that_commits_as_a_chunk_starts_is_neither_lost_nor_overwritten(
        fresh_postgres_url: str, step: str) -> None:
    engine = migrated_engine(fresh_postgres_url)
    other = migrated_engine(fresh_postgres_url)
    try:
        config = seed_portfolio(engine, [{"id": "u1", "score": 700, "wallet": 1_000,
                                          "limit": 500_000}],
                                [LoanSpec("L1", "u1", 120000, 1800, 3, date(2026, 1, 15))],
                                end=D).config
        fired = _record_when_the_chunk_locks(engine, other, config)
        if step == "deduct":
            steps.deduct(engine, D, "u1", "u1", 0, config, SimulatedBank(engine))
        else:
            with engine.begin() as conn:
                conn.execute(s.users.update().values(next_recalc=D))
            steps.limit_chunk(engine, D, "u1", "u1", 0, config)
        assert fired, "the chunk took no user lock"
        with engine.connect() as conn:
            user = conn.execute(select(s.users).where(s.users.c.id == "u1")).one()
            topup = conn.execute(select(s.journals.c.amount).where(
                s.journals.c.key == "wallet_topup:rec:n1")).scalar_one()
            assert check_all(conn) == []
        assert topup == 7_000
        activity = Activity.from_json(user.activity)
        assert activity.capacity_decline_on is not None, "the signal was overwritten"
        if step == "deduct":  # 1,000 + 7,000 in the wallet, all of it taken for 41,206 due
            assert user.wallet == 0
    finally:
        engine.dispose()
        other.dispose()


def test_a_batch_that_arrives_while_a_chunk_holds_the_lock_waits_and_applies_after_it(
        fresh_postgres_url: str) -> None:
    engine = migrated_engine(fresh_postgres_url)
    other = migrated_engine(fresh_postgres_url)
    try:
        config = seed_portfolio(engine, [{"id": "u1", "score": 700, "wallet": 1_000}],
                                [LoanSpec("L1", "u1", 120000, 1800, 3, date(2026, 1, 15))],
                                end=D).config
        now = datetime.now(ZoneInfo(config.time_zone))
        batch = intake.parse_records(
            [{"key": "late-1", "kind": "wallet_topup", "user": "u1", "amount": 7_000}],
            now=now, zone=config.time_zone, late_event_days=7)
        seen: dict[str, Any] = {}

        def record() -> None:
            with other.begin() as conn:
                ingest_batches.record_events(conn, batch, now, config)
            seen["done_at"] = time.monotonic()

        def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if seen or "FOR UPDATE" not in statement or "users" not in statement:
                return
            seen["thread"] = thread = threading.Thread(target=record)
            thread.start()
            time.sleep(1.5)  # the chunk holds u1's lock: the batch must wait
            seen["waited"] = thread.is_alive()
            seen["released_at"] = time.monotonic()

        event.listen(engine, "after_cursor_execute", after)
        steps.deduct(engine, D, "u1", "u1", 0, config, SimulatedBank(engine))
        seen["thread"].join(30)
        assert seen["waited"], "the batch did not wait for the chunk's lock"
        assert seen["done_at"] >= seen["released_at"]
        with engine.connect() as conn:
            wallet = conn.execute(select(s.users.c.wallet)).scalar_one()
            assert check_all(conn) == []
        assert wallet == 7_000  # the deduction took the 1,000; the top-up came after it
    finally:
        engine.dispose()
        other.dispose()
