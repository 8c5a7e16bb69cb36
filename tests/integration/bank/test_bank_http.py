"""The bank over HTTP: the real simulator (its own process) and the real client.

Every unknown outcome is pending on the client, and a later query (what reconcile does)
finds the true outcome; a key is taken once, however often and however concurrently it
is sent; every body is signed both ways.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from adapters.bank_http import HttpBank, Timeouts
from adapters.bank_sim import SimAdmin, SimProcess
from adapters.bank_wire import SIGNATURE_HEADER, sign, signature_ok
from domain.bank import (
    DEBITED,
    FAILED,
    PENDING,
    UNKNOWN,
    BankRefused,
    DebitRequest,
    DebitResult,
)
from domain.config import ProductConfig
from domain.deduction import synthetic_card_token
from drills.servers import free_port
from store import cycle_plan as plans
from store import schema as s
from store.ledger_checks import check_all
from tests.support.helpers import LoanSpec, migrated_engine, seed_portfolio
from workers import steps

SECRET = "test-secret"
D = date(2026, 2, 15)
HANG = 1.5      # the simulator's hang, well past the client's read timeout below
READ = 0.4


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    proc = SimProcess(str(tmp_path_factory.mktemp("bank") / "bank.sqlite"), SECRET).start()
    yield proc
    proc.stop()


@pytest.fixture
def admin(sim: SimProcess) -> Iterator[SimAdmin]:
    a = SimAdmin(sim.url, SECRET)
    a.set_faults(latency_ms=0, timeout_rate=0, error_rate=0, late_rate=0, partial_rate=0,
                 hang_seconds=HANG, seed=0, faults_on="both")
    yield a
    a.set_faults(latency_ms=0, timeout_rate=0, error_rate=0, late_rate=0, partial_rate=0)
    a.close()


@pytest.fixture
def bank(sim: SimProcess) -> Iterator[HttpBank]:
    b = HttpBank(sim.url, SECRET, timeouts=Timeouts(connect=1, read=READ))
    yield b
    b.close()


@pytest.fixture
def card(request: pytest.FixtureRequest, admin: SimAdmin) -> str:
    """A card of its own per test (the simulator is shared), holding 100,000."""
    token = "c-" + request.node.name.replace("[", "-").replace("]", "")[-60:]
    admin.set_cards({token: {"balance": 100000, "fail": None}})
    return token


def req(key: str, card: str, amount: int = 30000) -> DebitRequest:
    return DebitRequest(key, "user-of-" + card, amount, D, card_token=card)


def test_a_debit_and_its_query_round_trip(bank: HttpBank, admin: SimAdmin, card: str) -> None:
    got = bank.debit([req(f"{card}:1", card), req(f"{card}:2", card, 90000)])
    assert got == [DebitResult(f"{card}:1", DEBITED, 30000), DebitResult(f"{card}:2", DEBITED,
                                                                        70000)]
    assert bank.query([f"{card}:2", f"{card}:1", f"{card}:never"]) == [
        got[1], got[0], DebitResult(f"{card}:never", UNKNOWN)]
    assert bank.debit([req(f"{card}:3", card)]) == [
        DebitResult(f"{card}:3", FAILED, 0, "insufficient_funds")]
    assert admin.card(card) == {"token": card, "balance": 0, "fail": None, "taken": 100000}


def test_a_key_sent_twice_returns_its_first_outcome_and_takes_once(
        bank: HttpBank, admin: SimAdmin, card: str) -> None:
    first = bank.debit([req(f"{card}:k", card, 30000)])
    again = bank.debit([req(f"{card}:k", card, 50000), req(f"{card}:k", card, 50000)])
    assert again == first * 2 == [DebitResult(f"{card}:k", DEBITED, 30000)] * 2
    assert admin.card(card)["balance"] == 70000
    assert [d["taken"] for d in admin.ledger() if d["card_token"] == card] == [30000]


def test_concurrent_duplicate_requests_of_one_key_take_once(
        sim: SimProcess, admin: SimAdmin, card: str) -> None:
    answers: list[list[DebitResult]] = []
    start = threading.Barrier(12)

    def send() -> None:
        b = HttpBank(sim.url, SECRET)
        start.wait()
        answers.append(b.debit([req(f"{card}:{n}", card, 7000) for n in range(10)]))
        b.close()

    threads = [threading.Thread(target=send) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 12 and all(a == answers[0] for a in answers)
    assert [r.taken for r in answers[0]] == [7000] * 10
    assert admin.card(card)["balance"] == 30000
    assert len([d for d in admin.ledger() if d["card_token"] == card]) == 10


@pytest.mark.parametrize("fault,truth", [
    ("timeout_rate", UNKNOWN),   # the bank lost the call: nothing taken
    ("error_rate", UNKNOWN),     # a 503: nothing taken
    ("late_rate", DEBITED),      # taken, but the answer came after the client gave up
])
def test_a_fault_leaves_the_debit_pending_and_a_later_query_finds_the_true_outcome(
        bank: HttpBank, admin: SimAdmin, card: str, fault: str, truth: str,
        caplog: pytest.LogCaptureFixture) -> None:
    admin.set_faults(**{fault: 1.0})
    key = f"{card}:k"
    assert bank.debit([req(key, card)]) == [DebitResult(key, PENDING)]
    assert "left pending" in caplog.text
    admin.set_faults(**{fault: 0.0})
    taken = 30000 if truth == DEBITED else 0
    assert bank.query([key]) == [DebitResult(key, truth, taken)]
    assert admin.card(card)["balance"] == 100000 - taken
    assert admin.stats()[fault.removesuffix("_rate")] >= 1


def test_a_query_that_meets_a_fault_is_pending_too(bank: HttpBank, admin: SimAdmin,
                                                    card: str) -> None:
    bank.debit([req(f"{card}:k", card)])
    for fault in ("timeout_rate", "error_rate", "late_rate"):
        admin.set_faults(**{fault: 1.0})
        assert bank.query([f"{card}:k"]) == [DebitResult(f"{card}:k", PENDING)], fault
        admin.set_faults(**{fault: 0.0})
    assert bank.query([f"{card}:k"]) == [DebitResult(f"{card}:k", DEBITED, 30000)]


def test_latency_under_the_read_timeout_is_only_slow(sim: SimProcess, admin: SimAdmin,
                                                     card: str) -> None:
    admin.set_faults(latency_ms=int(READ * 1000 * 2))
    slow = HttpBank(sim.url, SECRET, timeouts=Timeouts(read=READ * 10))
    assert slow.debit([req(f"{card}:k", card)]) == [DebitResult(f"{card}:k", DEBITED, 30000)]
    impatient = HttpBank(sim.url, SECRET, timeouts=Timeouts(read=READ))
    assert impatient.debit([req(f"{card}:j", card)]) == [DebitResult(f"{card}:j", PENDING)]


def test_a_bank_that_cannot_be_reached_leaves_the_debit_pending(card: str) -> None:
    port = free_port()  # nobody listens there
    bank = HttpBank(f"http://127.0.0.1:{port}", SECRET, timeouts=Timeouts(connect=0.5))
    assert bank.debit([req("k", card)]) == [DebitResult("k", PENDING)]
    assert bank.query(["k"]) == [DebitResult("k", PENDING)]


def test_a_partial_debit_takes_part_of_what_it_could_and_says_so(
        bank: HttpBank, admin: SimAdmin, card: str) -> None:
    admin.set_faults(partial_rate=1.0)
    [got] = bank.debit([req(f"{card}:k", card)])
    assert got.status == DEBITED and 0 < got.taken < 30000
    assert admin.card(card)["balance"] == 100000 - got.taken
    assert bank.query([f"{card}:k"]) == [got]


@pytest.mark.parametrize("fail", ["card_invalid", "outage"])
def test_a_card_set_to_fail_answers_failed_with_its_reason(
        bank: HttpBank, admin: SimAdmin, card: str, fail: str) -> None:
    admin.set_cards({card: {"fail": fail}})
    assert bank.debit([req(f"{card}:k", card)]) == [DebitResult(f"{card}:k", FAILED, 0, fail)]
    assert bank.debit([req("k-no-card", "no-such-card")]) == [
        DebitResult("k-no-card", FAILED, 0, "card_invalid")]
    assert admin.card(card)["balance"] == 100000


def test_the_same_seed_meets_the_same_faults(tmp_path: Path) -> None:
    def pattern(db: str) -> list[str]:
        p = SimProcess(db, SECRET, faults={"error_rate": 0.5, "seed": 7}).start()
        try:
            b = HttpBank(p.url, SECRET)
            return [b.query([f"q{n}"])[0].status for n in range(24)]
        finally:
            p.stop()

    first, second = pattern(str(tmp_path / "a.sqlite")), pattern(str(tmp_path / "b.sqlite"))
    assert first == second
    assert {PENDING, UNKNOWN} == set(first)


def test_the_simulator_refuses_unsigned_and_badly_signed_requests_with_401(
        sim: SimProcess, admin: SimAdmin, card: str) -> None:
    body = json.dumps({"requests": [{"key": f"{card}:k", "card_token": card, "amount": 1,
                                     "business_date": "2026-02-15"}]}).encode()
    for headers in ({}, {SIGNATURE_HEADER: "00" * 32}, {SIGNATURE_HEADER: sign(b"x", body)}):
        r = httpx.post(sim.url + "/debits", content=body, headers=headers)
        assert r.status_code == 401
    r = httpx.put(sim.url + "/admin/cards", content=b'{"x": {"balance": 1}}')
    assert r.status_code == 401
    assert admin.card(card)["balance"] == 100000
    signed = httpx.post(sim.url + "/debits", content=body,
                        headers={SIGNATURE_HEADER: sign(SECRET.encode(), body)})
    assert signed.status_code == 200
    assert signature_ok(SECRET.encode(), signed.content, signed.headers[SIGNATURE_HEADER])


def test_a_request_outside_the_protocol_is_refused_naming_the_field(sim: SimProcess) -> None:
    body = json.dumps({"requests": [{"key": "k", "card_token": "c", "amount": -5,
                                     "business_date": "2026-02-15"}]}).encode()
    r = httpx.post(sim.url + "/debits", content=body,
                   headers={SIGNATURE_HEADER: sign(SECRET.encode(), body)})
    assert r.status_code == 400
    assert r.json()["error"].startswith("requests.0.amount")


def test_a_bank_that_refuses_our_signature_is_a_configuration_error_not_an_outcome(
        sim: SimProcess, card: str, caplog: pytest.LogCaptureFixture) -> None:
    wrong = HttpBank(sim.url, "not-the-secret")
    with pytest.raises(BankRefused, match="401"):
        wrong.debit([req(f"{card}:k", card)])
    with pytest.raises(BankRefused, match="401"):
        wrong.query([f"{card}:k"])
    assert "check bank_url and the bank secret" in caplog.text


def test_the_simulator_keeps_its_ledger_across_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "bank.sqlite")
    p = SimProcess(db, SECRET).start()
    SimAdmin(p.url, SECRET).set_cards({"c": {"balance": 500}})
    HttpBank(p.url, SECRET).debit([req("k", "c", 200)])
    p.stop(kill=True)
    p.port = 0
    p.start()
    try:
        b = HttpBank(p.url, SECRET)
        assert b.query(["k"]) == [DebitResult("k", DEBITED, 200)]
        assert b.debit([req("k", "c", 200)]) == [DebitResult("k", DEBITED, 200)]
        assert SimAdmin(p.url, SECRET).card("c")["balance"] == 300
    finally:
        p.stop()


def test_a_late_answer_through_deduct_and_reconcile_is_taken_once_and_matches_the_ledger(
        sqlite_url: str, sim: SimProcess, admin: SimAdmin) -> None:
    """The whole way: deduct meets a late answer (the bank took the money, the client saw
    pending), the fund waits, reconcile asks and books exactly what the bank's ledger says."""
    engine = migrated_engine(sqlite_url)
    uid, token = "late-user", "tok-late-user-card"
    seed_portfolio(engine, [{"id": uid, "score": 700, "card": 0, "fund": 50000,
                             "card_token": token}],
                   [LoanSpec("L1", uid, 90000, 0, 3, date(2026, 1, 15))])
    admin.set_cards({token: {"balance": 100000, "fail": None}})
    bank = HttpBank(sim.url, SECRET, timeouts=Timeouts(read=READ))
    config = ProductConfig()
    with engine.begin() as conn:
        n, lo, hi = plans.plan_chunks(conn, D, 5000)[0]
    admin.set_faults(late_rate=1.0, faults_on="debits")  # deduct asks first, then debits
    steps.deduct(engine, D, lo, hi, n, config, bank)
    with engine.connect() as conn:
        assert conn.execute(select(s.bank_debits.c.status)).scalars().all() == [PENDING]
        assert conn.execute(select(s.users.c.fund)).scalar_one() == 50000
    [row] = [d for d in admin.ledger() if d["card_token"] == token]
    assert (row["status"], row["taken"]) == (DEBITED, 30000)  # the money did move

    admin.set_faults(late_rate=0.0, faults_on="both")
    steps.reconcile_chunk(engine, D, lo, hi, n, config, bank)
    j = s.journals.c
    with engine.connect() as conn:
        journals = [(r.key, r.amount) for r in conn.execute(
            select(s.journals).where(j.kind == "deduct_card"))]
        assert conn.execute(select(s.bank_debits.c.status)).scalars().all() == [DEBITED]
        assert check_all(conn) == []
    assert journals == [(row["key"], row["taken"])]
    engine.dispose()


def test_deduct_asks_the_bank_for_the_user_s_card_token_and_never_for_a_user_without_one(
        sqlite_url: str, sim: SimProcess, admin: SimAdmin) -> None:
    """The debit reaches the simulator under the token the platform gave the user's card;
    a user with no linked card is not sent to the bank (their fund pays instead), even
    though the simulator holds money under both users' ids."""
    engine = migrated_engine(sqlite_url)
    token = "tok-3f9a0c-linked"
    seed_portfolio(engine, [
        {"id": "tok-user", "score": 700, "card_token": token},
        {"id": "no-card-user", "score": 700, "fund": 40000, "card_token": None}],
        [LoanSpec("L1", "tok-user", 90000, 0, 3, date(2026, 1, 15)),
         LoanSpec("L2", "no-card-user", 90000, 0, 3, date(2026, 1, 15))])
    admin.set_cards({token: {"balance": 100000, "fail": None},
                     "tok-user": {"balance": 100000, "fail": None},
                     "no-card-user": {"balance": 100000, "fail": None}})
    bank = HttpBank(sim.url, SECRET, timeouts=Timeouts(connect=1, read=5))
    config = ProductConfig()
    with engine.begin() as conn:
        n, lo, hi = plans.plan_chunks(conn, D, 5000)[0]
    steps.deduct(engine, D, lo, hi, n, config, bank)
    bank.close()
    mine = [d for d in admin.ledger()
            if d["card_token"] in (token, "tok-user", "no-card-user")]
    assert [(d["card_token"], d["status"], d["taken"]) for d in mine] == [
        (token, DEBITED, 30000)]
    assert admin.card("tok-user")["taken"] == admin.card("no-card-user")["taken"] == 0
    b, j = s.bank_debits.c, s.journals.c
    with engine.connect() as conn:
        assert conn.execute(select(b.user_id, b.card_token, b.status)).all() == [
            ("tok-user", token, DEBITED)]
        assert sorted(conn.execute(select(j.user_id, j.kind, j.amount).where(
            j.kind.like("deduct_%"))).all()) == [
            ("no-card-user", "deduct_fund", 30000), ("tok-user", "deduct_card", 30000)]
        assert check_all(conn) == []
    engine.dispose()


# -------------------------------------------------------------- creditcycle bank-sim
def _bank_sim(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "cli.main", "bank-sim", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CREDITCYCLE_BANK") and k != "DATABASE_URL"}
    return {**env, **extra}


def test_creditcycle_bank_sim_serves_the_protocol_signed_with_the_deployment_s_secret(
        tmp_path: Path, sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    seed_portfolio(engine, [{"id": "u1", "score": 700, "card": 4200},
                            {"id": "u2", "score": 700, "card": 0}], [])
    engine.dispose()
    proc = _bank_sim("--port", "0", "--db", str(tmp_path / "b.sqlite"), "--cards-from-database",
                     env=_env(CREDITCYCLE_BANK_SECRET=SECRET, DATABASE_URL=sqlite_url))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("bank-sim listening on http://127.0.0.1:")
        url = line.split(" on ", 1)[1].strip()
        admin = SimAdmin(url, SECRET)
        token = synthetic_card_token("u1")  # the scenario seeder's token of u1's card
        assert admin.card(token)["balance"] == 4200  # loaded from the portfolio, in bulk
        with pytest.raises(httpx.HTTPStatusError):  # by the card's token, never the user id
            admin.card("u1")
        bank = HttpBank(url, SECRET)
        assert bank.debit([req("k-cli", token, 1000)]) == [DebitResult("k-cli", DEBITED, 1000)]
        bank.close()
        admin.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.parametrize(("args", "field"), [
    ((), "CREDITCYCLE_BANK_SECRET"),
    (("--secret", "s", "--timeout-rate", "2"), "--timeout-rate"),
    (("--secret", "s", "--latency-ms", "-1"), "--latency-ms"),
])
def test_creditcycle_bank_sim_refuses_a_bad_setting_naming_it(
        tmp_path: Path, args: tuple[str, ...], field: str) -> None:
    done = subprocess.run([sys.executable, "-m", "cli.main", "bank-sim", "--port", "0",
                           "--db", str(tmp_path / "b.sqlite"), *args], env=_env(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {field}: ")
    assert "Traceback" not in done.stderr
