"""Every ledger invariant of SPEC 8 is proven for the accounts a close touched, and for the
whole ledger weekly; a broken one leaves its date broken (status, report, metric, --wait)
and stops the catch-up there until an operator rechecks it.

The portfolio: three borrowers each owe 30,000 on D, paid by u1's card, u2's wallet and
u3's fund; u4 has a wallet and owes nothing on D (an account D does not touch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, insert, select, text, update

from cli import api
from cli.cycle_cmds import drive_until_closed as _wait
from cli.main import main
from domain.config import ProductConfig
from domain.steps import Step
from reports.nightly import gather, render_html
from schedules.beat import beat_schedule
from store import cycle as cyc
from store import ledger_checks
from store import schema as s
from store.cycle import mark_closed_before
from tests.support.helpers import LoanSpec, migrated_engine, seed_portfolio
from workers import cycle, runtime
from workers.bank import SimulatedBank
from workers.local import close_date
from workers.progress import wait_for

from .cycle_driver import drive

D = date(2026, 2, 15)
CONFIG = ProductConfig()
LOAN_FROM = date(2026, 1, 15)
NO_CONSENT = {"wallet": False, "card": False, "fund": False}


def seed(url: str) -> Engine:
    engine = migrated_engine(url)
    seed_portfolio(engine, [
        {"id": "u1", "card": 100000},
        {"id": "u2", "wallet": 50000, "card": 0},
        {"id": "u3", "fund": 50000, "card": 0},
        {"id": "u4", "wallet": 7000, "card": 0},
    ], [LoanSpec(f"L{n}", f"u{n}", 90000, 0, 3, LOAN_FROM) for n in (1, 2, 3)])
    return engine


def unbalanced_journal(conn: Any) -> None:
    conn.execute(insert(s.journals).values(key="forged", day=D, kind="test", user_id=None,
                                           loan_id=None, amount=100))
    conn.execute(insert(s.postings).values(journal_key="forged", account="cash", owner=None,
                                           amount=100))


def wallet_by_sql(conn: Any, user: str = "u2") -> None:
    conn.execute(update(s.users).where(s.users.c.id == user).values(wallet=s.users.c.wallet + 1))


def fund_by_sql(conn: Any) -> None:
    conn.execute(update(s.users).where(s.users.c.id == "u3").values(fund=s.users.c.fund + 1))


def installment_paid(conn: Any) -> None:
    i = s.installments.c
    conn.execute(update(s.installments).where(i.loan_id == "L1", i.no == 1)
                 .values(paid_principal=i.paid_principal - 1))


def debit_taken(conn: Any) -> None:
    conn.execute(update(s.bank_debits).where(s.bank_debits.c.user_id == "u1")
                 .values(taken=s.bank_debits.c.taken - 1))


BREAKS: dict[str, tuple[Callable[[Any], None], str]] = {
    "an unbalanced journal": (unbalanced_journal, "journal forged does not balance"),
    "a wallet changed by SQL": (wallet_by_sql, "user u2: wallet 20001 != postings 20000"),
    "a fund changed by SQL": (fund_by_sql, "user u3: fund 20001 != postings 20000"),
    "an installment's paid amount changed": (installment_paid,
                                             "loan L1: receivable 60000 != outstanding 60001"),
    "a card debit's amount taken changed": (debit_taken, "bank clearing"),
}


@pytest.mark.parametrize("how", sorted(BREAKS))
def test_the_proof_of_a_day_and_of_the_whole_ledger_find_each_broken_invariant(
        sqlite_url: str, how: str) -> None:
    engine = seed(sqlite_url)
    close_date(engine, D, CONFIG, SimulatedBank(engine), daytime_attempts=False)
    with engine.connect() as conn:
        assert ledger_checks.check_day(conn, D) == [] and ledger_checks.check_all(conn) == []
    tamper, found = BREAKS[how]
    with engine.begin() as conn:
        tamper(conn)
    with ledger_checks.consistent_view(engine) as conn:
        day, whole = ledger_checks.check_day(conn, D), ledger_checks.check_all(conn)
    assert any(found in p for p in day), day
    assert any(found.partition(" != ")[0].split(":")[0] in p for p in whole), whole
    engine.dispose()


def test_the_proof_of_a_day_finds_a_broken_wallet_on_postgresql(fresh_postgres_url: str
                                                                 ) -> None:
    engine = seed(fresh_postgres_url)
    close_date(engine, D, CONFIG, SimulatedBank(engine), daytime_attempts=False)
    with engine.begin() as conn:
        wallet_by_sql(conn)
    with ledger_checks.consistent_view(engine) as conn:
        assert ledger_checks.check_day(conn, D) == ["user u2: wallet 20001 != postings 20000"]
    engine.dispose()


def wallet_top_up(conn: Any, user: str, amount: int, key: str) -> None:
    """A top-up booked as the ingest books one: a balanced journal and the wallet with it."""
    conn.execute(insert(s.journals).values(key=key, day=D, kind="topup", user_id=user,
                                           loan_id=None, amount=amount))
    conn.execute(insert(s.postings), [
        {"journal_key": key, "account": "cash", "owner": None, "amount": amount},
        {"journal_key": key, "account": f"wallet:{user}", "owner": user, "amount": -amount}])
    conn.execute(update(s.users).where(s.users.c.id == user)
                 .values(wallet=s.users.c.wallet + amount))


def test_the_nightly_proof_reads_an_account_from_its_mark_and_its_new_postings_only(
        db_url: str) -> None:
    engine = seed(db_url)
    close_date(engine, D, CONFIG, SimulatedBank(engine), daytime_attempts=False)
    with ledger_checks.consistent_view(engine) as conn:
        assert ledger_checks.check_day(conn, D) == []
    with engine.begin() as conn:  # history rewritten, balanced: only a whole proof re-sums it
        p = s.postings.c
        old = conn.execute(s.postings.select().where(p.owner == "u2")).first()
        assert old is not None
        conn.execute(update(s.postings).where(p.journal_key == old.journal_key,
                                               p.account == old.account)
                     .values(amount=p.amount + 1))
        conn.execute(update(s.postings).where(p.journal_key == old.journal_key,
                                               p.account != old.account, p.owner.is_(None))
                     .values(amount=p.amount - 1))
    with ledger_checks.consistent_view(engine) as conn:
        assert ledger_checks.check_day(conn, D) == []
        assert "user u2: wallet 20000 != postings 19999" in ledger_checks.check_all(conn)
    engine.dispose()


def test_postings_written_after_a_proof_are_proven_by_the_next_and_a_mismatch_stays(
        db_url: str) -> None:
    engine = seed(db_url)
    close_date(engine, D, CONFIG, SimulatedBank(engine), daytime_attempts=False)
    with ledger_checks.consistent_view(engine) as conn:
        assert ledger_checks.check_day(conn, D) == []
    with engine.begin() as conn:
        wallet_top_up(conn, "u2", 500, "late-topup")
    with ledger_checks.consistent_view(engine) as conn:
        assert ledger_checks.check_day(conn, D) == []
    with engine.begin() as conn:
        wallet_by_sql(conn)
        wallet_top_up(conn, "u2", 300, "later-topup")
    for _ in range(2):  # a failed proof does not move the mark: it fails again
        with ledger_checks.consistent_view(engine) as conn:
            assert ledger_checks.check_day(conn, D) == ["user u2: wallet 20801 != postings 20800"]
    engine.dispose()


@pytest.fixture
def night(sqlite_url: str, environment: pytest.MonkeyPatch) -> Any:
    engine = seed(sqlite_url)
    mark_closed_before(engine, D)
    environment.setenv("DATABASE_URL", sqlite_url)
    environment.setattr("workers.tasks.send", lambda messages: len(list(messages)))
    failed: list[str] = []
    environment.setattr("workers.metrics.ledger_proof_failed", failed.append)
    runtime.reset()
    yield engine, sqlite_url, failed
    runtime.reset()
    engine.dispose()


def close_row(engine: Engine, on: date) -> Any:
    with engine.connect() as conn:
        return cyc.close_row(conn, on)


def test_a_close_whose_ledger_proof_fails_is_broken_and_stops_the_catch_up_until_rechecked(
        night: Any) -> None:
    engine, url, failed = night
    channel = SimulatedBank(engine)

    def break_before_the_proof(m: cycle.ChunkMessage) -> None:
        if m.key.step == Step.RECONCILE_CLOSE:
            with engine.begin() as conn:
                wallet_by_sql(conn)

    drive(engine, cycle.begin(engine, D + timedelta(days=2), CONFIG), CONFIG, channel,
          break_before_the_proof)
    row = close_row(engine, D)
    assert row.status == cyc.BROKEN and row.target == D + timedelta(days=2)
    assert "user u2: wallet 20001 != postings 20000" in row.problem
    assert failed == ["day"]
    assert close_row(engine, D + timedelta(days=1)) is None  # the catch-up stopped at D
    assert cycle.begin(engine, D + timedelta(days=2), CONFIG) == []
    ran = api.run_here("creditcycle.cycle.run", date=(D + timedelta(days=2)).isoformat())
    assert ran["stopped_at"] == D.isoformat() and "u2: wallet" in ran["reason"]

    status = CliRunner().invoke(main, ["cycle", "status", "--database-url", url])
    shown = " ".join(status.output.split())
    assert status.exit_code == 0
    assert "ledger_broken" in shown and "2026-02-15 is not closed" in shown
    assert "creditcycle cycle recheck --date 2026-02-15" in shown
    page = render_html(gather(engine, D, days=30))
    assert "The ledger proof FAILED" in page and "u2: wallet 20001" in page
    with pytest.raises(cycle.LedgerBroken, match="2026-02-15 is not closed"):
        wait_for(engine, D + timedelta(days=2), D, show=False, timeout=5)
    with pytest.raises(click.ClickException, match="2026-02-15 is not closed"):
        _wait(url, D + timedelta(days=2))

    # Not fixed yet: the recheck finds it again and the date stays broken.
    again = CliRunner().invoke(main, ["cycle", "recheck", "--date", "2026-02-15",
                                      "--database-url", url])
    assert again.exit_code == 1 and "still broken" in again.output
    assert close_row(engine, D).status == cyc.BROKEN
    with engine.begin() as conn:  # the operator puts the wallet right
        conn.execute(update(s.users).where(s.users.c.id == "u2").values(wallet=20000))
    fixed = CliRunner().invoke(main, ["cycle", "recheck", "--date", "2026-02-15",
                                      "--database-url", url])
    assert fixed.exit_code == 0, fixed.output
    row = close_row(engine, D)
    assert row.status == cyc.DONE and row.problem is None and "u2: wallet" in row.detail
    drive(engine, cycle.begin(engine, D + timedelta(days=2), CONFIG), CONFIG, channel)
    assert [close_row(engine, D + timedelta(days=n)).status for n in (1, 2)] == [cyc.DONE] * 2
    done = CliRunner().invoke(main, ["cycle", "recheck", "--date", "2026-02-15",
                                     "--database-url", url])
    assert done.exit_code == 2 and "--date" in done.output


def test_the_weekly_whole_ledger_proof_has_a_beat_entry_and_marks_the_last_closed_date_broken(
        night: Any) -> None:
    engine, _, failed = night
    weekly = [e for e in beat_schedule().values() if e["task"] == "creditcycle.ledger.prove"]
    assert len(weekly) == 1 and weekly[0]["schedule"].day_of_week == {0}
    drive(engine, cycle.begin(engine, D, CONFIG), CONFIG, SimulatedBank(engine))
    assert api.run_here("creditcycle.ledger.prove") == {"problems": [], "marked": None}
    with engine.begin() as conn:
        wallet_by_sql(conn, "u4")  # an account the night of D did not touch
    with engine.connect() as conn:
        assert ledger_checks.check_day(conn, D) == []
    result = api.run_here("creditcycle.ledger.prove")
    assert result == {"problems": ["user u4: wallet 7001 != postings 7000"],
                      "marked": D.isoformat()}
    assert failed == ["ledger"]
    row = close_row(engine, D)
    assert row.status == cyc.BROKEN and row.problem.startswith(ledger_checks.WHOLE_PROOF)
    assert cycle.begin(engine, D + timedelta(days=1), CONFIG) == []
    assert cycle.recheck(engine, D) == ["user u4: wallet 7001 != postings 7000"]
    with engine.begin() as conn:
        conn.execute(update(s.users).where(s.users.c.id == "u4").values(wallet=7000))
    assert cycle.recheck(engine, D) == []
    assert close_row(engine, D).status == cyc.DONE
    assert cycle.begin(engine, D + timedelta(days=1), CONFIG) != []


def test_a_failed_proof_counts_in_the_metrics_and_a_broken_date_is_not_the_last_closed(
        tmp_path: Path) -> None:
    code = (
        "import json; from datetime import date\n"
        "from prometheus_client import generate_latest\n"
        "from workers import metrics\n"
        "metrics.ledger_proof_failed('day')\n"
        "metrics.day_closed(date(2026, 2, 15), 'ledger_broken', None, {})\n"
        "print(json.dumps(generate_latest(metrics.registry()).decode()))\n")
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "CREDITCYCLE_METRICS_PORT"}
    env.update(PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(root), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=root, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    text = json.loads(done.stdout)
    assert 'creditcycle_ledger_proofs_failed_total{scope="day"} 1.0' in text
    assert 'creditcycle_business_dates_closed_total{status="ledger_broken"} 1.0' in text
    assert "creditcycle_last_closed_business_date_seconds 0.0" in text  # never set


def test_the_close_proves_its_day_in_two_transactions_that_see_one_moment_on_postgresql(
        fresh_postgres_url: str) -> None:
    engine = seed(fresh_postgres_url)
    close_date(engine, D, CONFIG, SimulatedBank(engine), daytime_attempts=False)
    with ledger_checks.shared_views(engine, 2) as (first, second):
        before = second.execute(select(s.users.c.wallet).where(s.users.c.id == "u2")
                                ).scalar_one()
        with engine.begin() as conn:  # committed after the snapshot: neither part sees it
            wallet_by_sql(conn)
        pids = {c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in (first, second)}
        seen = [c.execute(select(s.users.c.wallet).where(s.users.c.id == "u2")).scalar_one()
                for c in (first, second)]
    assert len(pids) == 2 and seen == [before, before]
    engine.dispose()


def test_the_proof_side_by_side_finds_what_the_proof_in_turn_finds_on_postgresql(
        fresh_postgres_url: str) -> None:
    engine = seed(fresh_postgres_url)
    close_date(engine, D, CONFIG, SimulatedBank(engine), daytime_attempts=False)
    assert ledger_checks.prove_day(engine, D) == []
    i = s.installments.c
    with engine.begin() as conn:  # every loan broken, and every other invariant
        conn.execute(update(s.installments).where(i.no == 1)
                     .values(paid_principal=i.paid_principal - 1))
        for tamper in (unbalanced_journal, wallet_by_sql, fund_by_sql, debit_taken):
            tamper(conn)
    with ledger_checks.consistent_view(engine) as conn:
        in_turn = ledger_checks.check_day(conn, D)
    assert [" ".join(p.split(" ")[:2]) for p in in_turn] == [
        "journal forged", "loan L1:", "loan L2:", "loan L3:", "user u2:", "user u3:",
        "bank clearing"]
    split = 0
    for parts in range(2, 7):
        with engine.connect() as conn:  # how many transactions the three loans fall in
            shares = conn.execute(text(f"SELECT count(DISTINCT abs(mod(hashtext(id), {parts})))"
                                       " FROM loans")).scalar_one()
        split += shares > 1
        assert ledger_checks.prove_day(engine, D, parts) == in_turn, parts
    assert split  # at least one cut put the loans' receivables in more than one transaction
    engine.dispose()
