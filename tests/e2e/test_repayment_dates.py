"""A repayment is dated on the current business date (issue 10, items 2 and 5).

A ``date`` on or before the last closed date, before the loan's disbursement or
in the future is refused naming ``date``; a repayment naming an unknown loan is
refused naming ``loan``. A refused repayment is a rejected task (a row in
``rejections``, exit 2 from ``creditcycle repay``) and changes nothing stored.
On main a repayment dated 2020-01-01 reopened the paid first installment, and
the next night took it again from the card with nothing due.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from cli.main import main
from drills.stack import local_stack
from store import schema as s
from tests.support.helpers import (
    LoanSpec,
    changed_tables,
    migrated_engine,
    seed_portfolio,
    snapshot,
)
from workers.bank import SimulatedBank
from workers.local import close_date
from workers.scenario import Scenario
from workers.tasks import business_today

START = date(2026, 2, 10)
CLOSED = date(2026, 2, 20)  # the first installment (due 02-15) was taken from the card
NEXT = CLOSED + timedelta(days=1)


def _portfolio(url: str) -> tuple[Engine, Scenario]:
    engine = migrated_engine(url)
    sc = seed_portfolio(engine, [{"id": "u1", "score": 700, "card": 200_000}],
                        [LoanSpec("L1", "u1", 120_000, 1800, 3, date(2026, 1, 15))],
                        start=START)
    bank = SimulatedBank(engine)
    day = START
    while day <= CLOSED:
        close_date(engine, day, sc.config, bank)
        day += timedelta(days=1)
    return engine, sc


def _repay(url: str, *options: str, redis_url: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["repay", "--user", "u1", "--amount", "1000",
                                       "--database-url", url, *options],
                                env={"REDIS_URL": redis_url, "DATABASE_URL": url})
    return result.exit_code, result.stderr + result.stdout


def _card_debits(engine: Engine, on: date) -> int:
    b = s.bank_debits.c
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.sum(b.taken), 0))
                                .where(b.day == on)).scalar_one())


def _rejections(engine: Engine) -> list[tuple[str, str, str]]:
    r = s.rejections.c
    with engine.connect() as conn:
        return [tuple(x) for x in conn.execute(select(r.task, r.field, r.reason))]


@pytest.mark.parametrize("day", ["2020-01-01", "2026-02-01", CLOSED.isoformat()])
def test_a_back_dated_repayment_is_refused_naming_date_and_the_next_night_takes_nothing(
        sqlite_url: str, day: str) -> None:
    engine, sc = _portfolio(sqlite_url)
    try:
        before = snapshot(engine)
        code, err = _repay(sqlite_url, "--reference", "back", "--loan", "L1", "--date", day)
        assert code == 2, err
        assert err.startswith(f"error: date: {day} is on or before the last closed business "
                              "date 2026-02-20"), err
        assert changed_tables(before, snapshot(engine)) == ["rejections"]
        assert [(t, f) for t, f, _ in _rejections(engine)] == [("creditcycle.repay", "date")]
        close_date(engine, NEXT, sc.config, SimulatedBank(engine))
        assert _card_debits(engine, NEXT) == 0, "the night took money with nothing due"
    finally:
        engine.dispose()


def test_a_repayment_dated_in_the_future_is_refused_naming_date(sqlite_url: str) -> None:
    engine, _ = _portfolio(sqlite_url)
    try:
        before = snapshot(engine)
        tomorrow = (business_today() + timedelta(days=1)).isoformat()
        code, err = _repay(sqlite_url, "--reference", "ahead", "--date", tomorrow)
        assert code == 2 and err.startswith("error: date: ") and "future" in err, err
        assert changed_tables(before, snapshot(engine)) == ["rejections"]
    finally:
        engine.dispose()


def test_a_repayment_naming_an_unknown_loan_is_a_rejected_task_and_exit_2(
        sqlite_url: str) -> None:
    engine, _ = _portfolio(sqlite_url)
    try:
        before = snapshot(engine)
        code, err = _repay(sqlite_url, "--reference", "r9", "--loan", "L9",
                           "--date", NEXT.isoformat())
        assert (code, err) == (2, "error: loan: unknown loan 'L9' of user 'u1'\n")
        assert changed_tables(before, snapshot(engine)) == ["rejections"]
        assert _rejections(engine) == [("creditcycle.repay", "loan",
                                        "unknown loan 'L9' of user 'u1'")]
        # the reference was not used up: the same payment for the right loan goes through
        code, err = _repay(sqlite_url, "--reference", "r9", "--loan", "L1",
                           "--date", NEXT.isoformat())
        assert code == 0, err
    finally:
        engine.dispose()


def test_through_a_broker_a_refused_repayment_exits_2_with_the_worker_s_reason(
        sqlite_url: str, redis_url: str, environment: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    engine, _ = _portfolio(sqlite_url)
    try:
        before = snapshot(engine)
        with local_stack(sqlite_url, redis_url=redis_url) as st:
            st.start_worker(1, log=tmp_path / "worker.log")
            code, out = _repay(sqlite_url, "--reference", "b1", "--loan", "L9",
                               "--date", NEXT.isoformat(), redis_url=redis_url)
            assert code == 2 and out.endswith("error: loan: unknown loan 'L9' of user 'u1'\n")
            assert changed_tables(before, snapshot(engine)) == ["rejections"]
            code, out = _repay(sqlite_url, "--reference", "b1", "--loan", "L1",
                               "--date", NEXT.isoformat(), redis_url=redis_url)
            assert code == 0 and '"reference": "b1"' in out, out
    finally:
        engine.dispose()


def test_after_a_repayment_on_the_current_business_date_nothing_is_due_and_the_night_takes_nothing(
        sqlite_url: str) -> None:
    engine, sc = _portfolio(sqlite_url)
    try:
        code, err = _repay(sqlite_url, "--reference", "now", "--loan", "L1",
                           "--date", NEXT.isoformat())
        assert code == 0, err
        i = s.installments.c
        with engine.connect() as conn:
            first = conn.execute(select(i.principal, i.interest, i.paid_principal,
                                        i.paid_interest).where(i.no == 1)).one()
        assert tuple(first) == (39_406, 1_800, 39_406, 1_800), "the paid installment changed"
        close_date(engine, NEXT, sc.config, SimulatedBank(engine))
        assert _card_debits(engine, NEXT) == 0
    finally:
        engine.dispose()
