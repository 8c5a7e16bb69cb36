"""A chunk message runs only if it is a chunk the cycle planned for a step that runs now.

Anything else (a date never started, a chunk number or range the plan never made, a step
already finished) is a rejected task with the reason stored, and changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from cli import api
from domain.commands import InputError
from domain.config import ProductConfig
from domain.steps import Step, StepKey
from drills import testing
from store import cycle as cyc
from store import cycle_plan as plans
from store import schema as s
from store.snapshot import differences, snapshot
from workers import cycle, runtime
from workers.bank import SimulatedBank

from .cycle_driver import drive

D = date(2026, 3, 1)
CONFIG = ProductConfig(chunk_size=10)


@pytest.fixture
def engine(sqlite_url: str, environment: pytest.MonkeyPatch) -> Any:
    engine = testing.seeded(sqlite_url, 30, D, CONFIG.chunk_size)
    environment.setenv("DATABASE_URL", sqlite_url)
    environment.setenv("CREDITCYCLE_CHUNK_SIZE", str(CONFIG.chunk_size))
    environment.setenv("CREDITCYCLE_LOCAL_BANK", "1")  # the chunks the tasks run use the bank
    runtime.reset()
    # The chunks that follow are not sent anywhere: there is no broker here.
    environment.setattr("workers.tasks.send", lambda messages: len(list(messages)))
    yield engine
    runtime.reset()
    engine.dispose()


def state(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return snapshot(conn)


def bookkeeping(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {t.name: sorted(map(repr, conn.execute(select(t))))
                for t in (s.cycle_runs, s.chunk_runs)}


def rejected(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [(r.task, r.field, r.reason) for r in conn.execute(select(s.rejections))]


def refuse(engine: Engine, **message: Any) -> InputError:
    before, books = state(engine), bookkeeping(engine)
    with pytest.raises(InputError) as err:
        api.run_here("creditcycle.cycle.chunk", **message)
    assert differences(before, state(engine)) == []
    assert bookkeeping(engine) == books
    task, field, reason = rejected(engine)[-1]
    assert (task, field, reason) == ("creditcycle.cycle.chunk", err.value.field,
                                     err.value.message)
    return err.value


def invalid(engine: Engine, **message: Any) -> InputError:
    """A payload refused before the task runs (as a caller of the Python API sees it)."""
    before, books = state(engine), bookkeeping(engine)
    with pytest.raises(InputError) as err:
        api.run_here("creditcycle.cycle.chunk", **message)
    assert differences(before, state(engine)) == [] and bookkeeping(engine) == books
    return err.value


def test_a_deduct_chunk_for_a_date_twelve_days_ahead_is_rejected_and_debits_nothing(
        engine: Engine) -> None:
    err = refuse(engine, date=(D + timedelta(days=12)).isoformat(), step="deduct",
                 chunk_no=0, lo="", hi="~")
    assert err.field == "step"
    assert "was never started" in err.message


def test_a_chunk_number_the_plan_never_made_is_rejected_on_a_closed_date(
        engine: Engine) -> None:
    channel = SimulatedBank(engine)
    drive(engine, cycle.begin(engine, D, CONFIG), CONFIG, channel)
    err = refuse(engine, date=D.isoformat(), step="overdue", chunk_no=9999, lo="", hi="~")
    assert err.field == "chunk_no"
    assert "has no chunk 9999 (its chunks are 0..2)" in err.message


def test_a_copy_of_a_planned_chunk_after_its_step_finished_changes_nothing(
        engine: Engine) -> None:
    drive(engine, cycle.begin(engine, D, CONFIG), CONFIG, SimulatedBank(engine))
    with engine.connect() as conn:
        n, lo, hi = plans.plan_chunks(conn, D, CONFIG.chunk_size)[1]
    before = state(engine)
    result = api.run_here("creditcycle.cycle.chunk", date=D.isoformat(), step="overdue",
                          chunk_no=n, lo=lo, hi=hi)
    assert result["attempt"] is None and result["rows"] == 0
    assert differences(before, state(engine)) == [] and rejected(engine) == []


def test_an_extra_chunk_with_an_empty_range_is_rejected_and_completion_counts_planned_chunks(
        engine: Engine) -> None:
    first = cycle.begin(engine, D, CONFIG)
    deduct = StepKey(Step.DEDUCT)
    assert [(m.key, m.chunk_no) for m in first] == [(deduct, 0), (deduct, 1), (deduct, 2)]
    err = refuse(engine, date=D.isoformat(), step="deduct", chunk_no=3, lo="", hi="")
    assert err.field == "chunk_no"
    err = refuse(engine, date=D.isoformat(), step="deduct", chunk_no=0, lo="", hi="~")
    assert err.field == "lo" and "covers" in err.message
    err = refuse(engine, date=D.isoformat(), step="deduct", chunk_no=0, lo=first[0].lo,
                 hi="~")
    assert err.field == "hi"
    err = refuse(engine, date=D.isoformat(), step="overdue", chunk_no=0, lo=first[0].lo,
                 hi=first[0].hi)
    assert err.field == "step"  # the plan's range, but overdue has not started
    err = refuse(engine, date=D.isoformat(), step="deduct", run="release", chunk_no=0,
                 lo=first[0].lo, hi=first[0].hi)
    assert err.field == "step" and "deduct#release" in err.message
    err = invalid(engine, date=D.isoformat(), step="deduct#release", chunk_no=0,
                  lo=first[0].lo, hi=first[0].hi)
    assert err.field == "step" and "unknown step" in err.message  # a label is no step

    # A planned chunk of the running step runs.
    result = api.run_here("creditcycle.cycle.chunk", **first[0].kwargs())
    assert result["attempt"] == 1
    # A completion row of a chunk the plan never made (written behind the cycle's back)
    # does not count toward the step.
    with engine.begin() as conn:
        conn.execute(insert(s.chunk_runs).values(day=D, step="deduct", chunk_no=7, attempts=1,
                                                 done_at=cyc.now(), phase="done", rows=0))
        assert cyc.chunk_finished(conn, D, deduct) == (1, 3)
    assert cycle.chunk_completed(engine, D, deduct, CONFIG) == []
    with engine.connect() as conn:
        assert cyc.step_row(conn, D, deduct).status == cyc.RUNNING


def test_a_single_step_runs_only_as_chunk_zero_with_an_empty_range(engine: Engine) -> None:
    channel = SimulatedBank(engine)
    stop_at = StepKey(Step.HANDOFF)

    def before(m: cycle.ChunkMessage) -> None:
        if m.key == stop_at:
            raise StopIteration

    with pytest.raises(StopIteration):
        drive(engine, cycle.begin(engine, D, CONFIG), CONFIG, channel, before)
    assert refuse(engine, date=D.isoformat(), step="handoff", chunk_no=1, lo="",
                  hi="").field == "chunk_no"
    assert refuse(engine, date=D.isoformat(), step="handoff", chunk_no=0, lo="a",
                  hi="").field == "lo"
    result = api.run_here("creditcycle.cycle.chunk", date=D.isoformat(), step="handoff",
                          chunk_no=0, lo="", hi="")
    assert result["attempt"] == 1


def test_a_daytime_attempt_runs_its_planned_chunks_and_refuses_others(engine: Engine) -> None:
    drive(engine, cycle.begin(engine, D, CONFIG), CONFIG, SimulatedBank(engine))
    nxt = D + timedelta(days=1)
    msgs = cycle.begin_attempt(engine, nxt, "06:00", CONFIG)
    assert [m.key for m in msgs] == [StepKey(Step.DEDUCT, "0600")] * 3
    assert msgs[0].kwargs()["step"] == "deduct" and msgs[0].kwargs()["at"] == "0600"
    assert refuse(engine, date=nxt.isoformat(), step="deduct", at="1700", chunk_no=0,
                  lo=msgs[0].lo, hi=msgs[0].hi).field == "step"
    assert invalid(engine, date=nxt.isoformat(), step="limit", at="0600", chunk_no=0,
                   lo=msgs[0].lo, hi=msgs[0].hi).field == "at"
    assert api.run_here("creditcycle.cycle.chunk", **msgs[0].kwargs())["attempt"] == 1
