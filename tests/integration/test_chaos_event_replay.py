"""The chaos drill's clean run records the harmed run's events where the lock order put
them (drills/chaos_order.py): here one night on PostgreSQL gets a repayment between the
deduct step's two transactions and a top-up and a payment before the overdue step; the
stamps place them there, and a second database that replays them at those places ends
equal, table by table. Recording them all before the night instead ends elsewhere, so
the places matter. The replayed bank answers pending where the harmed run first booked
pending, whatever the bank's own ledger says.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from domain import intake
from domain.bank import DebitRequest, DebitResult
from domain.config import ProductConfig
from drills.chaos_bank import ReplayBank
from drills.chaos_order import (
    BetweenBank,
    CleanEvents,
    first_answers,
    install_stamps,
    read_plan,
)
from drills.servers import PostgresServer
from store import schema as s
from store.cycle import mark_closed_before
from store.snapshot import differences, snapshot
from tests.support.helpers import LoanSpec, migrated_engine, seed_portfolio
from workers import ingest_batches
from workers.bank import SimulatedBank
from workers.cycle import ChunkMessage
from workers.local import close_date

D = date(2026, 2, 15)  # L1's first installment (41,206) is due
REPAY: list[dict[str, Any]] = [{"key": "x1", "kind": "repay", "user": "u1", "amount": 50_000}]
LATER: list[dict[str, Any]] = [{"key": "y1", "kind": "wallet_topup", "user": "u1", "amount": 7_000},
         {"key": "y2", "kind": "payment", "user": "u1"}]
SENT = {e["key"]: e for e in (*REPAY, *LATER)}
BATCH_OF = {"x1": 0, "y1": 1, "y2": 1}


def _portfolio(server: PostgresServer) -> tuple[Engine, ProductConfig]:
    engine = migrated_engine(server.create_database())
    config = seed_portfolio(engine, [{"id": "u1", "score": 700, "wallet": 1_000,
                                      "card": 5_000, "fund": 100_000}],
                            [LoanSpec("L1", "u1", 120000, 1800, 3, date(2026, 1, 15))],
                            end=D).config
    mark_closed_before(engine, D)
    return engine, config


def _record(engine: Engine, events: list[dict[str, Any]], now: datetime,
            config: ProductConfig) -> None:
    batch = intake.parse_records(events, now=now, zone=config.time_zone, late_event_days=7)
    with engine.begin() as conn:
        ingest_batches.record_events(conn, batch, now, config)


class _RepayDuringTheBankCall(SimulatedBank):
    """The harmed night's bank: the platform's repayment lands while the deduct step
    calls the bank (its first call: a fresh chunk debits without asking first), after
    its first transaction and before its second."""

    def __init__(self, engine: Engine, now: datetime, config: ProductConfig) -> None:
        super().__init__(engine)
        self.engine, self.now, self.config, self.done = engine, now, config, False

    def _land(self) -> None:
        if not self.done:
            self.done = True
            _record(self.engine, REPAY, self.now, self.config)

    def query(self, keys: Sequence[str]) -> list[DebitResult]:
        self._land()
        return super().query(keys)

    def debit(self, requests: Sequence[DebitRequest]) -> list[DebitResult]:
        self._land()
        return super().debit(requests)


def test_events_replayed_where_the_lock_order_put_them_end_where_the_night_ended(
        postgres_server: PostgresServer) -> None:
    harmed, config = _portfolio(postgres_server)
    clean, _ = _portfolio(postgres_server)
    naive, _ = _portfolio(postgres_server)
    now = datetime.now(ZoneInfo(config.time_zone))
    try:
        install_stamps(harmed)

        def later(m: ChunkMessage) -> None:
            if m.key.step == "overdue":
                _record(harmed, LATER, now, config)

        close_date(harmed, D, config, _RepayDuringTheBankCall(harmed, now, config),
                   daytime_attempts=False, before_chunk=later)
        plan, stamped = read_plan(harmed)
        assert stamped == 3
        assert plan.between == {(D, "deduct", 0): ["x1"]}
        assert plan.before == {(D, "overdue", 0): ["y1", "y2"]} and plan.after == []

        events = CleanEvents(clean, plan, SENT, BATCH_OF, now, config)
        close_date(clean, D, config, BetweenBank(SimulatedBank(clean), events),
                   daytime_attempts=False, before_chunk=events.before_chunk)
        assert events.finish() == [] and events.applied == 3
        with harmed.connect() as a, clean.connect() as b:
            assert differences(snapshot(a), snapshot(b)) == []

        _record(naive, [*REPAY, *LATER], now, config)  # every event before the night
        close_date(naive, D, config, SimulatedBank(naive), daytime_attempts=False)
        with harmed.connect() as a, naive.connect() as c:
            assert differences(snapshot(a), snapshot(c)) != []
    finally:
        for engine in (harmed, clean, naive):
            engine.dispose()


def test_the_replay_answers_pending_where_the_harmed_run_first_booked_pending(
        postgres_server: PostgresServer) -> None:
    harmed = migrated_engine(postgres_server.create_database())
    try:
        install_stamps(harmed)
        b = s.bank_debits
        with harmed.begin() as conn:
            conn.execute(b.insert(), [
                {"key": k, "user_id": "u1", "day": D, "attempt": "cob", "amount": 100,
                 "status": "intent", "card_token": "u1"} for k in ("slow", "late-then-asked")])
        with harmed.begin() as conn:  # the deduct's answers: a timeout, a query's debited
            conn.execute(b.update().where(b.c.key == "slow").values(status="pending"))
            conn.execute(b.update().where(b.c.key == "late-then-asked").values(
                status="debited", taken=100, resolved_on=D))
        with harmed.begin() as conn:  # reconcile, the next night
            conn.execute(b.update().where(b.c.key == "slow").values(
                status="debited", taken=100, resolved_on=D + timedelta(days=1)))
        first = first_answers(harmed)
        assert first == {"slow": "pending", "late-then-asked": "debited"}
        # the bank applied "slow" in time by its own account (no fault), after the client
        # gave up; it applied "late-then-asked" on a late call, then a query found it
        ledger = [{"key": "slow", "late": False, "status": "debited", "taken": 100,
                   "reason": None, "card_token": "u1"},
                  {"key": "late-then-asked", "late": True, "status": "debited", "taken": 100,
                   "reason": None, "card_token": "u1"}]
        requests = [DebitRequest(k, "u1", 100, D, card_token="u1")
                    for k in ("slow", "late-then-asked")]
        stamped = ReplayBank(harmed, ledger, SimulatedBank(harmed), first).debit(requests)
        assert [(r.key, r.status) for r in stamped] == [("slow", "pending"),
                                                        ("late-then-asked", "debited")]
        unstamped = ReplayBank(harmed, ledger, SimulatedBank(harmed)).debit(requests)
        assert [r.status for r in unstamped] == ["debited", "pending"]  # the old guess
    finally:
        harmed.dispose()
