"""The bank's answers are input too: a tiny HTTP server answers crafted bodies, and
every answer that is not exactly the protocol is refused, logged and leaves the debit
pending (never failed, never debited), so no money is booked on its word."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from adapters.bank_http import HttpBank, Timeouts
from adapters.bank_wire import SIGNATURE_HEADER, sign
from domain.bank import DEBITED, FAILED, FAILURE_REASONS, PENDING, DebitRequest, DebitResult
from domain.config import ProductConfig
from store import cycle_plan as plans
from store import schema as s
from tests.support.badinput import CASES
from tests.support.helpers import LoanSpec, migrated_engine, seed_portfolio

SECRET = b"answers-secret"
D = date(2026, 2, 15)
AMOUNT = 30000
GOOD = {"key": "k", "status": "debited", "taken": AMOUNT, "reason": None}

# (status, body, signature): signature "good" signs the body, "none" sends no header
Script = Callable[[str, Any], tuple[int, bytes, str]]


def ok(payload: Any) -> tuple[int, bytes, str]:
    return 200, json.dumps(payload).encode(), "good"


class Crafted:
    """An HTTP server on a free port answering whatever ``script`` says."""

    def __init__(self) -> None:
        self.script: Script = lambda path, body: ok({"results": []})
        crafted = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                code, body, signature = crafted.script(self.path, json.loads(raw))
                self.send_response(code)
                if signature == "good":
                    self.send_header(SIGNATURE_HEADER, sign(SECRET, body))
                elif signature != "none":
                    self.send_header(SIGNATURE_HEADER, signature)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture(scope="module")
def crafted() -> Iterator[Crafted]:
    c = Crafted()
    yield c
    c.server.shutdown()
    c.server.server_close()


@pytest.fixture(scope="module")
def bank(crafted: Crafted) -> Iterator[HttpBank]:
    b = HttpBank(crafted.url, SECRET, timeouts=Timeouts(read=2))
    yield b
    b.close()


def debit_one(bank: HttpBank, crafted: Crafted, answer: tuple[int, bytes, str]) -> DebitResult:
    crafted.script = lambda path, body: answer
    [got] = bank.debit([DebitRequest("k", "u1", AMOUNT, D, card_token="tok-u1")])
    return got


def with_(**change: Any) -> dict[str, Any]:
    return {**GOOD, **change}


def without(field: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != field}


DEFECTS: dict[str, tuple[int, bytes, str]] = {
    "not JSON": (200, b"{not json", "good"),
    "an empty body": (200, b"", "good"),
    "null": ok(None),
    "no results": ok({}),
    "an unknown top-level key": ok({"results": [GOOD], "next": None}),
    "results that are not a list": ok({"results": GOOD}),
    "a result that is not an object": ok({"results": ["k"]}),
    "a result without its key": ok({"results": [without("key")]}),
    "a key of the wrong type": ok({"results": [with_(key=1)]}),
    "a result without taken": ok({"results": [without("taken")]}),
    "a result without status": ok({"results": [without("status")]}),
    "a result without reason": ok({"results": [without("reason")]}),
    "an unknown key in a result": ok({"results": [with_(fee=0)]}),
    "taken above the amount requested": ok({"results": [with_(taken=AMOUNT + 1)]}),
    "a negative taken": ok({"results": [with_(taken=-1)]}),
    "taken as a string": ok({"results": [with_(taken=str(AMOUNT))]}),
    "taken as a float": ok({"results": [with_(taken=float(AMOUNT))]}),
    "taken as a boolean": ok({"results": [with_(taken=True)]}),
    "a status outside the protocol": ok({"results": [with_(status="ok")]}),
    "a status of the wrong type": ok({"results": [with_(status=1)]}),
    "failed with an unknown reason": ok({"results": [with_(status="failed", taken=0,
                                                           reason="bank_holiday")]}),
    "failed without a reason": ok({"results": [with_(status="failed", taken=0)]}),
    "failed that took money": ok({"results": [with_(status="failed",
                                                    reason="insufficient_funds")]}),
    "debited with a reason": ok({"results": [with_(reason="outage")]}),
    "debited that took nothing": ok({"results": [with_(taken=0)]}),
    "unknown answered to a debit": ok({"results": [with_(status="unknown", taken=0)]}),
    "only a result for a key not asked": ok({"results": [with_(key="other")]}),
    "no result at all": ok({"results": []}),
    "the key answered twice": ok({"results": [GOOD, GOOD]}),
    "the key answered twice differently": ok({"results": [GOOD, with_(taken=1)]}),
    "a bad signature": (200, json.dumps({"results": [GOOD]}).encode(), "ab" * 32),
    "no signature": (200, json.dumps({"results": [GOOD]}).encode(), "none"),
    "the signature of another body": (200, json.dumps({"results": [GOOD]}).encode(),
                                      sign(SECRET, b'{"results": []}')),
    "the signature with another secret": (200, json.dumps({"results": [GOOD]}).encode(),
                                          sign(b"other", json.dumps(
                                              {"results": [GOOD]}).encode())),
    "HTTP 500": (500, json.dumps({"results": [GOOD]}).encode(), "good"),
    "HTTP 502 unsigned": (502, b"bad gateway", "none"),
    "HTTP 503": (503, b"", "good"),
    "HTTP 429": (429, b"", "good"),
    "HTTP 201": (201, json.dumps({"results": [GOOD]}).encode(), "good"),
}


def test_a_well_formed_answer_is_taken_as_it_is(bank: HttpBank, crafted: Crafted) -> None:
    """The harness itself: the same server with a good answer is believed."""
    assert debit_one(bank, crafted, ok({"results": [GOOD]})) == DebitResult("k", DEBITED,
                                                                            AMOUNT)


@pytest.mark.parametrize("defect", DEFECTS)
def test_an_answer_outside_the_protocol_is_refused_logged_and_leaves_the_debit_pending(
        bank: HttpBank, crafted: Crafted, defect: str,
        caplog: pytest.LogCaptureFixture) -> None:
    assert debit_one(bank, crafted, DEFECTS[defect]) == DebitResult("k", PENDING)
    assert "pending" in caplog.text
    CASES["bank answers: crafted"] += 1


def test_one_bad_result_leaves_only_its_key_pending(bank: HttpBank, crafted: Crafted) -> None:
    crafted.script = lambda path, body: ok({"results": [
        {**GOOD, "key": "a"}, {**GOOD, "key": "b", "taken": AMOUNT + 5}]})
    assert bank.debit([DebitRequest("a", "u1", AMOUNT, D, card_token="tok-u1"),
                       DebitRequest("b", "u2", AMOUNT, D, card_token="tok-u2")]) \
        == [DebitResult("a", DEBITED, AMOUNT), DebitResult("b", PENDING)]


def test_a_query_answer_outside_the_protocol_leaves_the_debit_pending(
        bank: HttpBank, crafted: Crafted) -> None:
    for defect in ("not JSON", "a bad signature", "a status outside the protocol",
                   "failed with an unknown reason", "HTTP 500"):
        crafted.script = lambda path, body, d=defect: DEFECTS[d]
        assert bank.query(["k"]) == [DebitResult("k", PENDING)], defect
    crafted.script = lambda path, body: ok({"results": [with_(status="unknown", taken=0)]})
    assert bank.query(["k"]) == [DebitResult("k", "unknown")]


# -------------------------------------------------------------- generated answers
JSON_SCALAR = (st.none() | st.booleans() | st.integers(-(10**15), 10**15)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
NOT_AN_INT = JSON_SCALAR.filter(lambda v: not isinstance(v, int) or isinstance(v, bool))


@st.composite
def broken_results(draw: st.DrawFn) -> dict[str, Any]:
    """A valid result with exactly one thing broken, so it must be refused."""
    status = draw(st.sampled_from(["debited", "failed"]))
    base = ({**GOOD, "taken": draw(st.integers(1, AMOUNT))} if status == "debited" else
            {**GOOD, "status": "failed", "taken": 0,
             "reason": draw(st.sampled_from(FAILURE_REASONS))})
    how = draw(st.sampled_from(["drop", "extra", "taken", "status", "reason"]))
    if how == "drop":
        del base[draw(st.sampled_from(["status", "taken", "reason"]))]
    elif how == "extra":
        name = draw(st.text(min_size=1, max_size=8).filter(lambda n: n not in GOOD))
        base[name] = draw(JSON_SCALAR)
    elif how == "taken":
        base["taken"] = draw(NOT_AN_INT | st.integers(max_value=-1)
                             | st.integers(min_value=AMOUNT + 1, max_value=10**15)
                             | (st.just(0) if status == "debited"
                                else st.integers(1, AMOUNT)))
    elif how == "status":
        base["status"] = draw(JSON_SCALAR.filter(
            lambda v: v not in ("debited", "failed", "pending", "unknown")))
    else:
        base["reason"] = draw(JSON_SCALAR.filter(
            lambda v: v not in FAILURE_REASONS and (v is not None or status == "failed"))
            if status == "failed" else st.sampled_from(FAILURE_REASONS))
    return base


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(result=broken_results())
def test_a_generated_broken_result_is_never_believed(bank: HttpBank, crafted: Crafted,
                                                     result: dict[str, Any]) -> None:
    assert debit_one(bank, crafted, ok({"results": [result]})) == DebitResult("k", PENDING)
    CASES["bank answers: generated"] += 1


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(taken=st.integers(1, AMOUNT), reason=st.sampled_from(FAILURE_REASONS),
       failed=st.booleans())
def test_a_generated_valid_result_is_believed_as_it_is(bank: HttpBank, crafted: Crafted,
                                                       taken: int, reason: str,
                                                       failed: bool) -> None:
    result = (with_(status="failed", taken=0, reason=reason) if failed else with_(taken=taken))
    assert debit_one(bank, crafted, ok({"results": [result]})) == DebitResult(
        "k", FAILED if failed else DEBITED, result["taken"], result["reason"])


# -------------------------------------------------------------- through the deduct step
@pytest.mark.parametrize("defect", ["taken above the amount requested", "a bad signature",
                                    "failed with an unknown reason", "not JSON"])
def test_a_deduct_against_a_bank_answering_nonsense_leaves_the_debit_pending_and_books_nothing(
        sqlite_url: str, bank: HttpBank, crafted: Crafted, defect: str) -> None:
    from workers import steps

    engine = migrated_engine(sqlite_url)
    seed_portfolio(engine, [{"id": "u1", "score": 700, "card": 0, "fund": 50000}],
                   [LoanSpec("L1", "u1", 90000, 0, 3, date(2026, 1, 15))])
    key = "deduct:u1:2026-02-15:cob:card"
    crafted.script = lambda path, body: (
        ok({"results": [{"key": key, "status": "unknown", "taken": 0, "reason": None}]})
        if path.endswith("/query") else
        DEFECTS[defect] if defect in ("not JSON", "a bad signature") else
        ok({"results": [{**DEFECTS_AS_RESULT[defect], "key": key}]}))
    with engine.begin() as conn:
        n, lo, hi = plans.plan_chunks(conn, D, 5000)[0]
    steps.deduct(engine, D, lo, hi, n, ProductConfig(), bank)
    with engine.connect() as conn:
        assert conn.execute(select(s.bank_debits.c.status)).scalars().all() == [PENDING]
        assert conn.execute(select(s.users.c.fund)).scalar_one() == 50000  # the fund waits
        assert conn.execute(select(s.journals).where(
            s.journals.c.kind == "deduct_card")).all() == []
        assert conn.execute(select(s.installments.c.paid_principal
                                   + s.installments.c.paid_interest)).scalars().all() == [0] * 3
    engine.dispose()


DEFECTS_AS_RESULT = {
    "taken above the amount requested": with_(taken=AMOUNT + 1),
    "failed with an unknown reason": with_(status="failed", taken=0, reason="bank_holiday"),
}


# -------------------------------------------------------------- through reconcile
KEY = "deduct:u1:2026-02-15:cob:card"
UNKNOWN_ANSWER = {"key": KEY, "status": "unknown", "taken": 0, "reason": None}
PENDING_ANSWER = {"key": KEY, "status": "pending", "taken": 0, "reason": None}

# Query answers that pass the wire's checks (a query has no amount to hold them to) but
# that the pending debit's intent refuses.
QUERY_DEFECTS: dict[str, dict[str, Any]] = {
    "taken above the amount debited": {"status": "debited", "taken": AMOUNT + 1,
                                       "reason": None},
    "taken far above the amount debited": {"status": "debited", "taken": 10**12,
                                           "reason": None},
    "unknown that took money": {"status": "unknown", "taken": 5, "reason": None},
}


def pending_debit(sqlite_url: str, bank: HttpBank,
                  crafted: Crafted) -> tuple[Any, tuple[int, str, str]]:
    """A portfolio of one user whose card debit of AMOUNT is pending (the bank timed out)."""
    from workers import steps

    engine = migrated_engine(sqlite_url)
    seed_portfolio(engine, [{"id": "u1", "score": 700, "card": 0, "fund": 50000}],
                   [LoanSpec("L1", "u1", 90000, 0, 3, date(2026, 1, 15))])
    crafted.script = lambda path, body: (ok({"results": [UNKNOWN_ANSWER]})
                                         if path.endswith("/query") else
                                         ok({"results": [PENDING_ANSWER]}))
    with engine.begin() as conn:
        chunk = plans.plan_chunks(conn, D, 5000)[0]
    steps.deduct(engine, D, chunk[1], chunk[2], chunk[0], ProductConfig(), bank)
    with engine.connect() as conn:
        assert conn.execute(select(s.bank_debits.c.status)).scalars().all() == [PENDING]
    return engine, chunk


def untouched(engine: Any) -> None:
    with engine.connect() as conn:
        assert conn.execute(select(s.bank_debits.c.status)).scalars().all() == [PENDING]
        assert conn.execute(select(s.users.c.fund)).scalar_one() == 50000
        assert conn.execute(select(s.journals).where(
            s.journals.c.kind.like("deduct_%"))).all() == []
        assert conn.execute(select(s.installments.c.paid_principal
                                   + s.installments.c.paid_interest)).scalars().all() == [0] * 3


@pytest.mark.parametrize("defect", sorted(QUERY_DEFECTS))
def test_a_reconcile_answer_the_intent_refuses_books_nothing_and_leaves_the_debit_pending(
        sqlite_url: str, bank: HttpBank, crafted: Crafted, defect: str,
        caplog: pytest.LogCaptureFixture) -> None:
    from workers import steps

    engine, (n, lo, hi) = pending_debit(sqlite_url, bank, crafted)
    crafted.script = lambda path, body: ok({"results": [{"key": KEY, **QUERY_DEFECTS[defect]}]})
    with caplog.at_level("ERROR", logger="creditcycle.bank"):
        steps.reconcile_chunk(engine, D, lo, hi, n, ProductConfig(), bank)
    untouched(engine)
    assert any(KEY in r.getMessage() and "refused" in r.getMessage() for r in caplog.records)
    engine.dispose()


@pytest.mark.parametrize("defect", ["a bad signature", "not JSON", "a negative taken",
                                    "taken as a string", "an unknown key in a result",
                                    "a result without taken", "HTTP 503"])
def test_a_reconcile_answer_out_of_the_protocol_leaves_the_debit_pending(
        sqlite_url: str, bank: HttpBank, crafted: Crafted, defect: str) -> None:
    from workers import steps

    engine, (n, lo, hi) = pending_debit(sqlite_url, bank, crafted)
    code, body, signature = DEFECTS[defect]
    crafted.script = lambda path, b: (code, body.replace(b'"k"', json.dumps(KEY).encode()),
                                      signature)
    steps.reconcile_chunk(engine, D, lo, hi, n, ProductConfig(), bank)
    untouched(engine)
    engine.dispose()


def test_a_reconcile_answer_within_the_intent_is_booked(
        sqlite_url: str, bank: HttpBank, crafted: Crafted) -> None:
    """The control of the two above: the same path with a good answer books the money."""
    from workers import steps

    engine, (n, lo, hi) = pending_debit(sqlite_url, bank, crafted)
    crafted.script = lambda path, body: ok({"results": [{**GOOD, "key": KEY}]})
    steps.reconcile_chunk(engine, D, lo, hi, n, ProductConfig(), bank)
    with engine.connect() as conn:
        assert conn.execute(select(s.bank_debits.c.status)).scalars().all() == [DEBITED]
        assert conn.execute(select(s.journals.c.amount).where(
            s.journals.c.kind == "deduct_card")).scalars().all() == [AMOUNT]
    engine.dispose()


def test_a_key_the_bank_never_received_is_released_by_reconcile_as_not_taken(
        sqlite_url: str, bank: HttpBank, crafted: Crafted) -> None:
    from workers import steps

    engine, (n, lo, hi) = pending_debit(sqlite_url, bank, crafted)
    crafted.script = lambda path, body: ok({"results": [UNKNOWN_ANSWER]})
    steps.reconcile_chunk(engine, D, lo, hi, n, ProductConfig(), bank)
    with engine.connect() as conn:
        [row] = conn.execute(select(s.bank_debits)).all()
        assert (row.status, row.taken, row.resolved_on) == ("unknown", 0, D)
        assert conn.execute(select(s.journals).where(
            s.journals.c.kind == "deduct_card")).all() == []
    engine.dispose()


class Died(Exception):
    """The worker died after its intents were recorded, before its call."""


class DyingBank:
    def query(self, keys: Any) -> Any:
        raise Died

    def debit(self, requests: Any) -> Any:
        raise Died


def intents_recorded(engine: Any) -> tuple[int, str, str]:
    """A deduct chunk whose first run recorded its intents and died before the bank
    heard of them: the next run asks the bank about them before it debits."""
    from workers import steps

    with engine.begin() as conn:
        n, lo, hi = plans.plan_chunks(conn, D, 5000)[0]
    with pytest.raises(Died):
        steps.deduct(engine, D, lo, hi, n, ProductConfig(), DyingBank())  # type: ignore[arg-type]
    return n, lo, hi


def test_a_first_query_that_meets_a_fault_does_not_spend_the_attempt(
        sqlite_url: str, bank: HttpBank, crafted: Crafted) -> None:
    """A redelivered deduct asks before it debits; a query answered 503 says nothing, so
    the debit is still sent (under the same key) and its answer booked."""
    from workers import steps

    engine = migrated_engine(sqlite_url)
    seed_portfolio(engine, [{"id": "u1", "score": 700, "card": 0, "fund": 0}],
                   [LoanSpec("L1", "u1", 90000, 0, 3, date(2026, 1, 15))])
    n, lo, hi = intents_recorded(engine)
    asked: list[str] = []

    def script(path: str, body: Any) -> tuple[int, bytes, str]:
        asked.append(path)
        if path.endswith("/query"):
            return 503, b"", "good"
        return ok({"results": [{**GOOD, "key": body["requests"][0]["key"]}]})

    crafted.script = script
    steps.deduct(engine, D, lo, hi, n, ProductConfig(), bank)
    assert asked == ["/debits/query", "/debits"]
    with engine.connect() as conn:
        assert conn.execute(select(s.bank_debits.c.status)).scalars().all() == [DEBITED]
        assert conn.execute(select(s.journals.c.amount).where(
            s.journals.c.kind == "deduct_card")).scalars().all() == [AMOUNT]
    engine.dispose()


def test_a_first_query_answering_more_than_asked_is_refused_and_the_debit_sent(
        sqlite_url: str, bank: HttpBank, crafted: Crafted) -> None:
    from workers import steps

    engine = migrated_engine(sqlite_url)
    seed_portfolio(engine, [{"id": "u1", "score": 700, "card": 0, "fund": 0}],
                   [LoanSpec("L1", "u1", 90000, 0, 3, date(2026, 1, 15))])
    n, lo, hi = intents_recorded(engine)
    crafted.script = lambda path, body: (
        ok({"results": [{**GOOD, "key": KEY, "taken": AMOUNT * 10}]})
        if path.endswith("/query") else ok({"results": [PENDING_ANSWER]}))
    steps.deduct(engine, D, lo, hi, n, ProductConfig(), bank)
    with engine.connect() as conn:
        assert conn.execute(select(s.bank_debits.c.status)).scalars().all() == [PENDING]
        assert conn.execute(select(s.journals).where(
            s.journals.c.kind == "deduct_card")).all() == []
    engine.dispose()
