"""The bank channel: a key is taken at most once, a pending debit is resolved by asking,
and a deduct chunk redelivered after its intents were committed asks instead of debiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, update

from domain.config import ProductConfig
from domain.steps import Step, StepKey, close_steps
from store import cycle as cyc
from store import cycle_plan as plans
from store import schema as s
from store.ledger_checks import check_all
from tests.support.helpers import LoanSpec, migrated_engine, seed_portfolio
from workers import cycle, steps
from workers.bank import DEBITED, FAILED, PENDING, UNKNOWN, DebitRequest, DebitResult, SimulatedBank

D = date(2026, 2, 15)


@pytest.fixture
def engine(db_url: str):
    engine = migrated_engine(db_url)
    # L1 owes 30,000 on D (interest-free, 3 x 30,000); the card holds 100,000.
    seed_portfolio(engine, [{"id": "u1", "score": 700, "card": 100000, "fund": 50000}],
                   [LoanSpec("L1", "u1", 90000, 0, 3, date(2026, 1, 15))])
    yield engine
    engine.dispose()


def card_balance(engine: Engine, user: str = "u1") -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(s.sim_bank_accounts.c.balance).where(
            s.sim_bank_accounts.c.user_id == user)).scalar_one())


def bank_requests(engine: Engine) -> list[tuple[str, str, int]]:
    t = s.sim_bank_requests.c
    with engine.connect() as conn:
        return [(r.key, r.outcome, r.taken) for r in conn.execute(
            select(s.sim_bank_requests).order_by(t.key))]


def set_timeout(engine: Engine, on: date, resolves: str = DEBITED) -> None:
    with engine.begin() as conn:
        conn.execute(update(s.sim_bank_accounts).values(timeout_day=on,
                                                        timeout_resolves=resolves))


class Crash(Exception):
    """The worker dies here."""


class RecordingChannel:
    """The simulator, with every debit key recorded and an optional crash point."""

    def __init__(self, bank: SimulatedBank, crash: str | None = None) -> None:
        self.bank = bank
        self.crash = crash
        self.debited: list[str] = []
        self.queried: list[str] = []

    def debit(self, requests: Sequence[DebitRequest]) -> list[DebitResult]:
        if self.crash == "before debit" and requests:
            raise Crash
        self.debited.extend(r.key for r in requests)
        results = self.bank.debit(requests)
        if self.crash == "after debit" and requests:
            raise Crash
        return results

    def query(self, keys: Sequence[str]) -> list[DebitResult]:
        self.queried.extend(keys)
        results = self.bank.query(keys)
        if self.crash == "after query" and keys:
            raise Crash
        return results


def test_the_same_key_debited_twice_is_taken_once(engine) -> None:
    bank = SimulatedBank(engine)
    req = DebitRequest("k1", "u1", 30000, D, card_token="tok-u1")
    first = bank.debit([req])
    second = bank.debit([req])
    both = bank.debit([req, req])
    assert first == second == [DebitResult("k1", DEBITED, 30000, None)]
    assert both == first * 2
    assert card_balance(engine) == 70000
    assert bank_requests(engine) == [("k1", DEBITED, 30000)]


def test_a_debit_takes_what_the_card_holds_and_fails_on_an_empty_card(engine) -> None:
    bank = SimulatedBank(engine)
    assert bank.debit([DebitRequest("k1", "u1", 150000, D, card_token="tok-u1")]) == [
        DebitResult("k1", DEBITED, 100000, None)]
    assert bank.debit([DebitRequest("k2", "u1", 1, D, card_token="tok-u1")]) == [
        DebitResult("k2", FAILED, 0, "insufficient_funds")]
    assert card_balance(engine) == 0


def test_a_key_the_bank_never_saw_is_unknown(engine) -> None:
    assert SimulatedBank(engine).query(["nope"]) == [DebitResult("nope", UNKNOWN)]


def test_a_pending_debit_is_resolved_by_query_and_taken_once(engine) -> None:
    set_timeout(engine, D)
    bank = SimulatedBank(engine)
    req = DebitRequest("k1", "u1", 30000, D, card_token="tok-u1")
    assert bank.debit([req]) == [DebitResult("k1", PENDING, 0, None)]
    assert card_balance(engine) == 100000
    assert bank.debit([req]) == [DebitResult("k1", PENDING, 0, None)]
    assert bank.query(["k1"]) == [DebitResult("k1", DEBITED, 30000, None)]
    assert bank.query(["k1"]) == [DebitResult("k1", DEBITED, 30000, None)]
    assert bank.debit([req]) == [DebitResult("k1", DEBITED, 30000, None)]
    assert card_balance(engine) == 70000


def test_a_pending_debit_that_fails_takes_nothing(engine) -> None:
    set_timeout(engine, D, FAILED)
    bank = SimulatedBank(engine)
    bank.debit([DebitRequest("k1", "u1", 30000, D, card_token="tok-u1")])
    assert bank.query(["k1"])[0].status == FAILED
    assert card_balance(engine) == 100000


def test_a_pending_debit_that_fails_gives_the_banks_reason_not_one_the_card_disproves(
        engine) -> None:
    """The card holds 100,000 for a 30,000 debit: it failed because of the bank (outage);
    only an empty card fails for insufficient funds."""
    set_timeout(engine, D, FAILED)
    bank = SimulatedBank(engine)
    bank.debit([DebitRequest("k1", "u1", 30000, D, card_token="tok-u1")])
    assert bank.query(["k1"]) == [DebitResult("k1", FAILED, 0, "outage")]
    assert bank.query(["k1"]) == [DebitResult("k1", FAILED, 0, "outage")]
    with engine.begin() as conn:
        conn.execute(update(s.sim_bank_accounts).values(balance=0))
    bank.debit([DebitRequest("k2", "u1", 30000, D, card_token="tok-u1")])
    assert bank.query(["k2"]) == [DebitResult("k2", FAILED, 0, "insufficient_funds")]


def test_reconcile_stores_the_reason_the_bank_gave_for_a_pending_debit(engine) -> None:
    set_timeout(engine, D, FAILED)
    n, lo, hi = _chunk(engine)
    bank = SimulatedBank(engine)
    steps.deduct(engine, D, lo, hi, n, ProductConfig(), bank)
    steps.reconcile_chunk(engine, D, lo, hi, n, ProductConfig(), bank)
    with engine.connect() as conn:
        rows = conn.execute(select(s.bank_debits.c.status, s.bank_debits.c.reason)).all()
    assert [tuple(r) for r in rows] == [(FAILED, "outage")]


def _chunk(engine: Engine) -> tuple[int, str, str]:
    with engine.begin() as conn:
        return plans.plan_chunks(conn, D, 5000)[0]


def _phase(engine: Engine) -> str | None:
    with engine.connect() as conn:
        row = cyc.chunk_row(conn, D, StepKey(Step.DEDUCT), 0)
    return None if row is None else str(row.phase)


def _card_journals(engine: Engine) -> list[tuple[str, int]]:
    j = s.journals.c
    with engine.connect() as conn:
        return [(r.key, r.amount) for r in conn.execute(
            select(s.journals).where(j.kind == "deduct_card").order_by(j.key))]


def _owed_on_loan(engine: Engine) -> int:
    i = s.installments.c
    with engine.connect() as conn:
        return int(conn.execute(select(func.sum(
            i.principal + i.interest + i.penalty - i.paid_principal - i.paid_interest
            - i.paid_penalty))).scalar_one())


def test_a_deduct_chunk_debits_the_intents_it_just_recorded_without_asking_about_them_first(
        engine) -> None:
    n, lo, hi = _chunk(engine)
    channel = RecordingChannel(SimulatedBank(engine))
    steps.deduct(engine, D, lo, hi, n, ProductConfig(), channel)
    key = "deduct:u1:2026-02-15:cob:card"
    assert (channel.queried, channel.debited) == ([], [key])
    assert bank_requests(engine) == [(key, DEBITED, 30000)]
    assert _card_journals(engine) == [(key, 30000)]


@pytest.mark.parametrize("crash", ["before debit", "after debit"])
def test_a_deduct_chunk_redelivered_after_its_intents_asks_the_bank_and_never_takes_twice(
        engine, crash: str) -> None:
    n, lo, hi = _chunk(engine)
    sc_config = ProductConfig()
    dying = RecordingChannel(SimulatedBank(engine), crash=crash)
    with pytest.raises(Crash):
        steps.deduct(engine, D, lo, hi, n, sc_config, dying)
    assert _phase(engine) == "intents"
    with engine.connect() as conn:
        intents = conn.execute(select(s.bank_debits.c.status)).scalars().all()
    assert intents == ["intent"]

    again = RecordingChannel(SimulatedBank(engine))
    steps.deduct(engine, D, lo, hi, n, sc_config, again)
    key = "deduct:u1:2026-02-15:cob:card"
    assert again.queried == [key]
    assert again.debited == ([] if crash == "after debit" else [key])
    assert card_balance(engine) == 70000
    assert bank_requests(engine) == [(key, DEBITED, 30000)]
    assert _card_journals(engine) == [(key, 30000)]
    assert _phase(engine) == "done"

    third = RecordingChannel(SimulatedBank(engine))
    steps.deduct(engine, D, lo, hi, n, sc_config, third)
    assert (third.queried, third.debited) == ([], [])
    assert card_balance(engine) == 70000
    with engine.connect() as conn:
        assert check_all(conn) == []
    assert _owed_on_loan(engine) == 60000


def test_a_chunk_that_lost_its_bookkeeping_after_the_bank_call_still_takes_once(engine) -> None:
    """Even with the chunk's phase lost, the intent's key makes the redelivery ask the bank."""
    n, lo, hi = _chunk(engine)
    dying = RecordingChannel(SimulatedBank(engine), crash="after debit")
    with pytest.raises(Crash):
        steps.deduct(engine, D, lo, hi, n, ProductConfig(), dying)
    with engine.begin() as conn:
        conn.execute(s.chunk_runs.delete())
    again = RecordingChannel(SimulatedBank(engine))
    steps.deduct(engine, D, lo, hi, n, ProductConfig(), again)
    assert again.debited == []
    assert card_balance(engine) == 70000
    assert len(_card_journals(engine)) == 1
    with engine.connect() as conn:
        assert check_all(conn) == []


def test_a_card_timeout_pends_stops_the_waterfall_and_is_resolved_once_by_reconcile(
        engine) -> None:
    set_timeout(engine, D)
    n, lo, hi = _chunk(engine)
    config = ProductConfig()
    channel = RecordingChannel(SimulatedBank(engine))
    steps.deduct(engine, D, lo, hi, n, config, channel, "0600")
    steps.deduct(engine, D, lo, hi, n, config, channel, "1700")
    steps.deduct(engine, D, lo, hi, n, config, channel)
    assert channel.debited == ["deduct:u1:2026-02-15:0600:card"]
    with engine.connect() as conn:
        assert conn.execute(select(s.users.c.fund)).scalar_one() == 50000
        assert conn.execute(select(s.bank_debits.c.status)).scalars().all() == [PENDING]

    dying = RecordingChannel(SimulatedBank(engine), crash="after query")
    with pytest.raises(Crash):
        steps.reconcile_chunk(engine, D, lo, hi, n, config, dying)
    assert card_balance(engine) == 70000  # the bank took it when asked
    steps.reconcile_chunk(engine, D, lo, hi, n, config, channel)
    steps.reconcile_chunk(engine, D, lo, hi, n, config, channel)
    assert card_balance(engine) == 70000
    assert _card_journals(engine) == [("deduct:u1:2026-02-15:0600:card", 30000)]
    assert _owed_on_loan(engine) == 60000
    with engine.connect() as conn:
        assert conn.execute(select(s.bank_debits.c.status)).scalars().all() == [DEBITED]
        assert check_all(conn) == []


@pytest.mark.parametrize("meanwhile", ["query k1", "debit k2"])
def test_a_pending_debit_resolved_while_another_worker_uses_the_card_is_taken_once(
        fresh_postgres_url: str, meanwhile: str) -> None:
    """While one worker's query resolves pending k1 (30,000), a second worker asks about k1
    too (a redelivered reconcile) or debits k2 (50,000) from the same card."""
    first, second = migrated_engine(fresh_postgres_url), migrated_engine(fresh_postgres_url)
    try:
        seed_portfolio(first, [{"id": "u1", "card": 100000}], [])
        set_timeout(first, D)
        SimulatedBank(first).debit([DebitRequest("k1", "u1", 30000, D, card_token="tok-u1")])
        with first.begin() as conn:
            conn.execute(update(s.sim_bank_accounts).values(timeout_day=None))
        answers: dict[str, list[DebitResult]] = {}
        started: list[threading.Thread] = []

        def other_worker() -> None:
            bank = SimulatedBank(second)
            answers["second"] = (bank.query(["k1"]) if meanwhile == "query k1" else
                                 bank.debit([DebitRequest("k2", "u1", 50000, D,
                                                          card_token="tok-u1")]))

        def hook(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if started or not statement.startswith("UPDATE sim_bank_requests"):
                return
            started.append(threading.Thread(target=other_worker))
            started[0].start()
            time.sleep(0.5)  # the other worker runs, or waits for our locks

        event.listen(first, "before_cursor_execute", hook)
        answers["first"] = SimulatedBank(first).query(["k1"])
        started[0].join(30)
        assert answers["first"] == [DebitResult("k1", DEBITED, 30000)]
        if meanwhile == "query k1":
            assert answers["second"] == answers["first"]
            assert card_balance(first) == 70000
        else:
            assert answers["second"] == [DebitResult("k2", DEBITED, 50000)]
            assert card_balance(first) == 20000
    finally:
        first.dispose()
        second.dispose()


def test_a_daytime_debit_whose_chunk_died_after_the_bank_call_is_booked_on_release(
        engine) -> None:
    """The 06:00 chunk dies after the bank took the money, keeps dying and is quarantined;
    the night closes with exceptions; the operator's release books the debit (once)."""
    n, lo, hi = _chunk(engine)
    config = ProductConfig()
    with pytest.raises(Crash):
        steps.deduct(engine, D, lo, hi, n, config,
                     RecordingChannel(SimulatedBank(engine), crash="after debit"), "0600")
    cycle.quarantine(engine, D, StepKey(Step.DEDUCT, "0600"), n, lo, hi, "the worker died")
    channel = RecordingChannel(SimulatedBank(engine))
    for key in [StepKey(Step.DEDUCT, "1700"), *(StepKey(x) for x in close_steps(D))]:
        cycle.run_chunk(engine, D, key, n, lo, hi, config, channel)
    with engine.begin() as conn:
        cyc.start_close(conn, D)
        cyc.finish_close(conn, D, cyc.EXCEPTIONS)
    assert channel.debited == []  # held: nobody touches u1's card
    assert card_balance(engine) == 70000 and _owed_on_loan(engine) == 90000

    assert cycle.release(engine, D, config, channel) == ["u1"]
    assert channel.debited == []
    assert card_balance(engine) == 70000
    assert _card_journals(engine) == [("deduct:u1:2026-02-15:0600:card", 30000)]
    assert _owed_on_loan(engine) == 60000
    with engine.connect() as conn:
        assert conn.execute(select(s.bank_debits.c.status)).scalars().all() == [DEBITED]
        assert check_all(conn) == []
