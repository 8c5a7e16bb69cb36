"""Collection agencies (SPEC 6): added, listed and retired by an operator; a night whose
handoffs find no active agency closes everything else, holds only the handoff pass with
its cause shown, and the pass goes through once an agency is added.

The nights are driven through the real state machine (``cycle.begin``, ``run_chunk``,
``chunk_completed``) in this process, one message at a time. L1 and L2 (disbursed
2026-01-15, never paid) reach DPD 91 on D = 2026-05-16; L3 (disbursed 2026-01-16) on D+1.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import Engine, select

from cli import api
from cli.main import main
from domain.config import ProductConfig
from store import schema as s
from store.cycle_reads import label_of
from store.ledger_checks import check_all
from tests.support.helpers import LoanSpec, migrated_engine, seed_portfolio
from workers import cycle, runtime
from workers.bank import SimulatedBank
from workers.progress import status_table

D = date(2026, 5, 16)
USERS = [{"id": f"u{k}", "name": "Zhang San", "phone": "13800000000", "score": 700,
          "limit": 500000} for k in (1, 2, 3)]
LOANS = [LoanSpec("L1", "u1", 120000, 1800, 3, date(2026, 1, 15)),
         LoanSpec("L2", "u2", 90000, 0, 3, date(2026, 1, 15)),
         LoanSpec("L3", "u3", 90000, 0, 3, date(2026, 1, 16))]


@pytest.fixture
def db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    runtime.reset()
    engine = migrated_engine(db_url)
    yield engine
    engine.dispose()
    runtime.reset()


def seeded(engine: Engine, agencies: list[str]) -> ProductConfig:
    return seed_portfolio(engine, USERS, LOANS, agencies=agencies, config={"chunk_size": 2},
                          start=D).config


def drive(engine: Engine, target: date, config: ProductConfig) -> None:
    """Close the dates up to ``target`` as the workers would, message by message."""
    bank = SimulatedBank(engine)
    queue = deque(cycle.begin(engine, target, config))
    while queue:
        m = queue.popleft()
        on = date.fromisoformat(m.date)
        cycle.run_chunk(engine, on, m.key, m.chunk_no, m.lo, m.hi, config, bank)
        queue.extend(cycle.chunk_completed(engine, on, m.key, config))


def steps_of(engine: Engine, on: date) -> dict[str, tuple[str, str | None]]:
    c = s.cycle_runs.c
    with engine.connect() as conn:
        return {label_of(r): (r.status, r.detail) for r in conn.execute(
            select(c.step, c.at, c.run, c.status, c.detail).where(c.day == on))}


def handoffs(engine: Engine) -> list[tuple[date, str, str | None]]:
    h = s.handoffs.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(h.day, h.loan_id, h.agency)
                                              .order_by(h.day, h.loan_id))]


def open_cases(engine: Engine) -> dict[str, str | None]:
    c = s.collection_cases.c
    with engine.connect() as conn:
        return dict(conn.execute(select(c.loan_id, c.agency).where(
            c.stage == "agency", c.closed_on.is_(None))).all())


def test_a_night_with_handoffs_and_no_agency_closes_holding_only_the_handoff_pass(
        db: Engine) -> None:
    config = seeded(db, agencies=[])
    drive(db, D, config)
    night = steps_of(db, D)
    assert night["close"][0] == "done"
    held, cause = night.pop("handoff")
    assert held == "held"
    assert cause is not None and "no active collection agency" in cause
    assert "creditcycle agencies add NAME" in cause
    assert {step: status for step, (status, _) in night.items()} == dict.fromkeys(
        ["deduct", "overdue", "score", "limit", "collect", "reconcile", "reconcile_close",
         "close"], "done")
    assert handoffs(db) == []
    assert open_cases(db) == {"L1": None, "L2": None}

    # Other dates go on; their passes wait too (the cases of D are still unassigned).
    drive(db, D + timedelta(days=1), config)
    assert steps_of(db, D + timedelta(days=1))["close"][0] == "done"
    assert steps_of(db, D + timedelta(days=1))["handoff"][0] == "held"
    assert open_cases(db) == {"L1": None, "L2": None, "L3": None}, "one case per loan"

    out = io.StringIO()
    table, _ = status_table(db)
    Console(file=out, width=400).print(table)
    assert "held" in out.getvalue() and "no active collection agency" in out.getvalue()

    result = api.run_here("creditcycle.agencies.add", name="Alpha Recovery")
    assert result["handoffs_through"] == [D.isoformat(), (D + timedelta(days=1)).isoformat()]
    assert steps_of(db, D)["handoff"] == ("done", None)
    assert steps_of(db, D + timedelta(days=1))["handoff"] == ("done", None)
    assert handoffs(db) == [(D, "L1", "Alpha Recovery"), (D, "L2", "Alpha Recovery"),
                            (D + timedelta(days=1), "L3", "Alpha Recovery")]
    lo = s.loans.c
    with db.connect() as conn:
        stages = dict(conn.execute(select(lo.id, lo.collection_stage)).all())
        assert check_all(conn) == []
    assert stages == {"L1": "agency", "L2": "agency", "L3": "agency"}


def test_the_watchdog_lets_a_held_handoff_pass_through_once_an_agency_exists(
        db: Engine) -> None:
    config = seeded(db, agencies=[])
    drive(db, D, config)
    with db.begin() as conn:  # an agency added behind the task's back (e.g. by SQL)
        conn.execute(s.agencies.insert().values(name="Beta Collect"))
    assert api.run_here("creditcycle.cycle.watchdog")["handoffs_through"] == [D.isoformat()]
    assert handoffs(db) == [(D, "L1", "Beta Collect"), (D, "L2", "Beta Collect")]
    assert steps_of(db, D)["handoff"][0] == "done"


def test_a_retired_agency_gets_no_new_handoffs_and_keeps_its_open_cases(db: Engine) -> None:
    config = seeded(db, agencies=["Alpha Recovery", "Beta Collect"])
    drive(db, D, config)
    assert handoffs(db) == [(D, "L1", "Alpha Recovery"), (D, "L2", "Beta Collect")]
    result = api.run_here("creditcycle.agencies.retire", name="Alpha Recovery")
    assert (result["status"], result["changed"]) == ("retired", True)
    # Both have one open case: without the retirement the tie would go to Alpha (by name).
    drive(db, D + timedelta(days=1), config)
    assert handoffs(db)[-1] == (D + timedelta(days=1), "L3", "Beta Collect")
    assert open_cases(db) == {"L1": "Alpha Recovery", "L2": "Beta Collect",
                              "L3": "Beta Collect"}


def test_retiring_every_agency_holds_the_next_handoff_and_adding_one_back_releases_it(
        db: Engine) -> None:
    config = seeded(db, agencies=["Alpha Recovery"])
    api.run_here("creditcycle.agencies.retire", name="Alpha Recovery")
    drive(db, D, config)
    assert steps_of(db, D)["handoff"][0] == "held"
    result = api.run_here("creditcycle.agencies.add", name="Alpha Recovery")
    assert (result["changed"], result["handoffs_through"]) == (True, [D.isoformat()])
    assert handoffs(db) == [(D, "L1", "Alpha Recovery"), (D, "L2", "Alpha Recovery")]


def test_the_agencies_command_adds_lists_and_retires_and_refuses_bad_names(
        db: Engine, db_url: str) -> None:
    seeded(db, agencies=[])
    runner = CliRunner()
    url = ["--database-url", db_url]
    empty = runner.invoke(main, ["agencies", "list", *url])
    assert empty.exit_code == 0 and "no collection agencies" in empty.stderr
    added = runner.invoke(main, ["agencies", "add", "Alpha Recovery", *url])
    assert added.exit_code == 0, added.output
    again = runner.invoke(main, ["agencies", "add", "Alpha Recovery", *url])
    assert again.exit_code == 0 and '"changed": false' in again.stdout
    assert runner.invoke(main, ["agencies", "add", "Beta Collect", *url]).exit_code == 0
    assert runner.invoke(main, ["agencies", "retire", "Beta Collect", *url]).exit_code == 0
    listed = runner.invoke(main, ["agencies", "list", *url])
    lines = listed.stdout.splitlines()
    assert lines[0] == "Alpha Recovery\tactive\t0 open cases"
    assert lines[1].startswith("Beta Collect\tretired ")

    before = open_cases(db), handoffs(db)
    for args, message in ((["add", " Alpha"], "must not begin or end with spaces"),
                          (["add", "x" * 101], "at most 100 characters"),
                          (["add", "Al\tpha"], "must not contain control"),
                          (["retire", "Gamma"], "unknown agency 'Gamma'")):
        bad = runner.invoke(main, ["agencies", *args, *url])
        assert bad.exit_code == 2, (args, bad.output)
        assert bad.stderr.startswith("error: name: ") and message in bad.stderr, bad.stderr
        assert bad.exception is None or isinstance(bad.exception, SystemExit)
    with db.connect() as conn:
        names = list(conn.execute(select(s.agencies.c.name).order_by(s.agencies.c.name))
                     .scalars())
        rejected = conn.execute(select(s.rejections.c.task, s.rejections.c.field)).all()
    assert names == ["Alpha Recovery", "Beta Collect"]
    assert (open_cases(db), handoffs(db)) == before
    assert ("creditcycle.agencies.retire", "name") in [tuple(r) for r in rejected]
