"""One story, two stores: a scenario's result is identical on SQLite and PostgreSQL, its
ledger proves balanced, and the ledger check catches a tampered posting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from store import schema as s
from store.engine import make_engine
from store.ledger_checks import check_all
from workers.scenario import run_scenario

STORY: dict[str, Any] = {
    "description": "u1 and u2 never pay (handoffs to two agencies, u1 written off on "
                   "2026-08-14); u3's card times out twice (debited, then failed); u4 prepays "
                   "part of L4, draws L5 and then pays everything off with money to spare.",
    "agencies": ["Alpha Recovery", "Beta Collect"],
    "users": [
        {"id": "u1", "name": "Zhang San", "phone": "13800000000", "score": 600,
         "limit": 250000},
        {"id": "u2", "name": "Li Si", "phone": "13912345678", "score": 600, "limit": 250000},
        {"id": "u3", "score": 700, "limit": 2000000, "card": 60000, "fund": 50000,
         "wallet": 1000},
        {"id": "u4", "score": 720, "limit": 3000000, "card": 50000},
    ],
    "loans": [
        {"id": "L1", "user": "u1", "principal": 120000, "annual_rate_bp": 1800,
         "term_months": 3, "disbursed": "2026-01-15"},
        {"id": "L2", "user": "u2", "principal": 90000, "annual_rate_bp": 0,
         "term_months": 3, "disbursed": "2026-01-15"},
        {"id": "L3", "user": "u3", "principal": 90000, "annual_rate_bp": 0,
         "term_months": 3, "disbursed": "2026-01-20"},
        {"id": "L4", "user": "u4", "principal": 240000, "annual_rate_bp": 1800,
         "term_months": 12, "disbursed": "2026-01-25"},
    ],
    "events": [
        {"date": "2026-02-20", "user": "u3", "kind": "card_timeout"},
        {"date": "2026-03-20", "user": "u3", "kind": "card_timeout", "resolves": "failed"},
        {"date": "2026-03-21", "user": "u3", "kind": "card_deposit", "amount": 40000},
        {"date": "2026-03-01", "user": "u4", "kind": "repay", "loan": "L4", "amount": 50000},
        {"date": "2026-03-02", "user": "u4", "kind": "payment"},
        {"date": "2026-03-03", "user": "u3", "kind": "job_loss"},
        {"date": "2026-04-01", "user": "u4", "kind": "draw", "loan": "L5", "principal": 100000,
         "annual_rate_bp": 1800, "term_months": 3},
        {"date": "2026-04-02", "user": "u1", "kind": "draw", "loan": "L6", "principal": 10000,
         "annual_rate_bp": 1800, "term_months": 3},
        {"date": "2026-05-10", "user": "u4", "kind": "repay", "amount": 500000},
    ],
    "run": {"from": "2026-02-10", "to": "2026-08-20"},
}


@pytest.fixture(scope="module")
def story(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, tuple[str, dict[str, Any]]]]:
    """The story run once on each store: {backend: (url, result)}."""
    sqlite_url = f"sqlite:///{Path(tmp_path_factory.mktemp('story')) / 'story.db'}"
    pg_url = postgres_server.create_database()
    try:
        yield {"sqlite": (sqlite_url, run_scenario(STORY, database_url=sqlite_url)),
               "postgres": (pg_url, run_scenario(STORY, database_url=pg_url))}
    finally:
        postgres_server.drop_database(pg_url.rsplit("/", 1)[1])


def test_a_story_gives_identical_result_json_on_sqlite_and_postgresql(story) -> None:
    on_sqlite, on_postgres = story["sqlite"][1], story["postgres"][1]
    for section in on_sqlite:
        assert on_sqlite[section] == on_postgres[section], section
    assert on_sqlite == on_postgres


def test_the_story_does_what_it_says(story) -> None:
    result = story["postgres"][1]
    loans, users = result["loans"], result["users"]
    assert (loans["L1"]["status"], loans["L1"]["dpd"]) == ("written_off", 181)
    assert users["u1"]["closed"] and users["u1"]["limit"] == 0
    assert {h["loan"]: h["agency"] for h in result["handoffs"]} == {
        "L1": "Alpha Recovery", "L2": "Beta Collect"}
    assert all(set(h) == {"date", "kind", "loan", "agency", "masked_name", "masked_phone",
                          "contact_token", "amount_owed", "dpd"} for h in result["handoffs"])
    assert [r["reason"] for r in result["refused"]] == ["OVERDUE_FREEZE"]
    assert loans["L3"]["status"] == "paid_off"
    assert (loans["L4"]["status"], loans["L5"]["status"]) == ("paid_off", "paid_off")
    assert users["u4"]["wallet"] > 0
    assert result["ledger_balanced"] is True
    reminders = [n for n in result["notifications"] if n["kind"] == "overdue_reminder"]
    assert reminders[0]["send_from"].endswith("T08:00:00+08:00")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_ledger_check_finds_nothing_wrong_after_the_story(story, backend: str) -> None:
    engine = make_engine(story[backend][0])
    try:
        with engine.connect() as conn:
            assert check_all(conn) == []
    finally:
        engine.dispose()


def _tampered(engine: Engine, statement: str) -> list[str]:
    """The ledger check's problems with ``statement`` applied, rolled back afterwards."""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            assert conn.execute(text(statement)).rowcount >= 1
            return check_all(conn)
        finally:
            trans.rollback()


TAMPERING = {  # what is done -> (statement, what the check must say)
    "one posting of a card deduction grows by a fen": (
        "UPDATE postings SET amount = amount + 1 WHERE journal_key = "
        "(SELECT min(key) FROM journals WHERE kind = 'deduct_card') AND account LIKE 'loan:%'",
        "does not balance"),
    "a posting moves to another loan's receivable, its journal still balancing": (
        "UPDATE postings SET account = 'loan:L2:interest', owner = 'L2' "
        "WHERE account = 'loan:L1:interest' AND journal_key = 'opening:L1'",
        "loan L1: receivable"),
    "a wallet is changed without a journal": (
        "UPDATE users SET wallet = wallet + 1 WHERE id = 'u4'", "user u4: wallet"),
    "an installment is marked paid without money": (
        "UPDATE installments SET paid_principal = principal WHERE loan_id = 'L2' AND no = 3",
        "loan L2: receivable"),
    "a bank debit's taken amount is changed": (
        "UPDATE bank_debits SET taken = taken - 1 WHERE status = 'debited' AND taken > 0",
        "bank clearing"),
}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_the_ledger_check_reports_a_tampered_ledger(story, backend: str, tampering: str
                                                    ) -> None:
    engine = make_engine(story[backend][0])
    try:
        statement, says = TAMPERING[tampering]
        problems = _tampered(engine, statement)
        assert any(says in p for p in problems), problems
        with engine.connect() as conn:
            assert check_all(conn) == []
            assert conn.execute(select(s.journals.c.key)).first() is not None
    finally:
        engine.dispose()
