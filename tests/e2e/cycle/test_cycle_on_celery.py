"""The nightly cycle through real Celery workers, a real Redis and a real PostgreSQL."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from datetime import date, timedelta

import redis
from sqlalchemy import func, select

from cli import api
from drills import testing
from drills.testing import wait_closed
from store import ledger_checks
from store import schema as s
from store.engine import make_engine
from store.snapshot import differences, snapshot
from workers.celery_app import app
from workers.cycle import close_steps

START = date(2026, 3, 1)
USERS, CHUNK = 60, 20


def seeded(url):
    return testing.seeded(url, USERS, START, CHUNK)


def close_statuses(engine):
    return testing.close_statuses(engine, START)


def _chunk_attempts(engine, day, step):
    k = s.chunk_runs.c
    with engine.connect() as conn:
        return conn.execute(select(func.sum(k.attempts)).where(k.day == day, k.step == step)
                            ).scalar() or 0


def test_a_business_date_closes_through_real_workers(fresh_postgres_url, make_stack):
    engine = seeded(fresh_postgres_url)
    make_stack(fresh_postgres_url)
    api.submit("creditcycle.cycle.run", date=START.isoformat())
    wait_closed(engine, START)
    c = s.cycle_runs.c
    with engine.connect() as conn:
        rows = {r.step: r for r in conn.execute(select(s.cycle_runs).where(c.day == START))}
        assert ledger_checks.check_all(conn) == []
    for step in close_steps(START):
        assert rows[step].status == "done", step
        assert rows[step].done == rows[step].total
    assert rows["deduct"].total == 3
    assert rows["close"].status == "done"


def test_a_second_trigger_for_the_same_date_does_nothing(fresh_postgres_url, make_stack):
    engine = seeded(fresh_postgres_url)
    make_stack(fresh_postgres_url)
    api.submit("creditcycle.cycle.run", date=START.isoformat())
    wait_closed(engine, START)
    with engine.connect() as conn:
        before = snapshot(conn)
        runs_before = conn.execute(select(func.count()).select_from(s.cycle_runs)).scalar()
    api.submit("creditcycle.cycle.run", date=START.isoformat())
    api.submit("creditcycle.cycle.run", date=START.isoformat())
    api.submit("creditcycle.cycle.watchdog")
    time.sleep(3)
    with engine.connect() as conn:
        assert differences(before, snapshot(conn)) == []
        assert conn.execute(select(func.count()).select_from(s.cycle_runs)).scalar() == runs_before


def test_a_missed_week_is_caught_up_date_by_date_in_order(fresh_postgres_url, make_stack):
    engine = seeded(fresh_postgres_url)
    make_stack(fresh_postgres_url)
    last = START + timedelta(days=6)
    api.submit("creditcycle.cycle.run", date=last.isoformat())
    wait_closed(engine, last)
    c = s.cycle_runs.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.day, c.started_at, c.finished_at).where(
            c.step == "close", c.day >= START).order_by(c.started_at)).all()
    assert [r.day for r in rows] == [START + timedelta(days=i) for i in range(7)]
    for earlier, later in itertools.pairwise(rows):
        assert earlier.finished_at <= later.started_at


def test_a_chunk_delivered_twice_changes_nothing(fresh_postgres_url, make_stack, redis_url):
    engine = seeded(fresh_postgres_url)
    make_stack(fresh_postgres_url)
    api.submit("creditcycle.cycle.run", date=START.isoformat())
    wait_closed(engine, START)
    with engine.connect() as conn:
        before = snapshot(conn)
        chunks = conn.execute(select(s.cycle_chunks).where(s.cycle_chunks.c.day == START)).all()
    attempts = {step: _chunk_attempts(engine, START, step)
                for step in ("deduct", "overdue", "score", "limit", "collect", "reconcile")}
    for step in attempts:
        for ch in chunks:
            app.send_task("creditcycle.cycle.chunk", queue="cycle", kwargs={
                "date": START.isoformat(), "step": step, "chunk_no": ch.chunk_no,
                "lo": ch.lo, "hi": ch.hi})
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    while client.llen("cycle") and time.monotonic() < deadline:
        time.sleep(0.2)
    client.close()
    time.sleep(3)  # the last ones taken off the queue finish
    with engine.connect() as conn:
        assert differences(before, snapshot(conn)) == []
    # a message for a chunk that is done is not an attempt
    assert {st: _chunk_attempts(engine, START, st) for st in attempts} == attempts


def _run_to(url, make_stack, last, fault=""):
    engine = seeded(url)
    stack = make_stack(url, fault=fault)
    api.submit("creditcycle.cycle.run", date=last.isoformat())
    wait_closed(engine, last)
    return engine, stack


def _quarantine_then_release(fresh_postgres_url, postgres_server, make_stack, mode):
    last = START + timedelta(days=3)
    poisoned = "u0000025"
    engine, faulty = _run_to(fresh_postgres_url, make_stack, last,
                             fault=f"overdue:{poisoned}:{mode}")
    statuses = dict(close_statuses(engine))
    assert statuses[START] == "done_with_exceptions"
    k = s.chunk_runs.c
    h = s.held_users.c
    with engine.connect() as conn:
        quarantined = conn.execute(select(k.chunk_no, k.attempts).where(
            k.day == START, k.step == "overdue", k.phase == "quarantined")).all()
        held = list(conn.execute(select(h.user_id).where(h.day == START)).scalars())
    assert len(quarantined) == 1
    assert poisoned in held and len(held) == 20
    status = subprocess.run(
        [sys.executable, "-m", "cli.main", "cycle", "status", "--date", START.isoformat(),
         "--database-url", fresh_postgres_url], check=False, capture_output=True, text=True,
        timeout=60)
    assert status.returncode == 0
    assert poisoned in status.stdout and "quarantined" in status.stdout

    released = api.run_here("creditcycle.cycle.release", date=START.isoformat())
    assert sorted(released["released"]) == sorted(held)

    faulty.stop()
    clean, _ = _run_to(postgres_server.create_database(), make_stack, last)
    with engine.connect() as a, clean.connect() as b:
        assert differences(snapshot(a), snapshot(b)) == []
        assert ledger_checks.check_all(a) == []


def test_a_chunk_that_keeps_failing_is_quarantined_and_its_users_catch_up_after_release(
        fresh_postgres_url, postgres_server, make_stack):
    _quarantine_then_release(fresh_postgres_url, postgres_server, make_stack, "raise")


def test_a_chunk_that_kills_its_worker_is_quarantined_and_its_users_catch_up_after_release(
        fresh_postgres_url, postgres_server, make_stack):
    _quarantine_then_release(fresh_postgres_url, postgres_server, make_stack, "kill")


def test_the_engine_is_made_per_process_and_not_at_import():
    import importlib

    import workers.runtime as runtime

    importlib.reload(runtime)
    assert runtime._state.engine is None
    _ = make_engine
