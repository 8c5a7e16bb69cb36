"""``make bench``: one business date over a synthetic portfolio, against its raw-SQL floor.

1. A private PostgreSQL; the portfolio is generated inside it with set-based
   SQL (loans from a few schedule templates, about 1/30 due on the date, 5%
   overdue across all buckets, activity for 30% of users, risk signals for 2%).
2. The pre-night database is copied (``CREATE DATABASE ... TEMPLATE``), and each
   copy vacuumed, analyzed, checkpointed and flushed before it is timed.
3. The date is closed through real Celery workers on a private Redis (the 1/10
   and history runs close it three times, on fresh copies, and keep the median).
4. Every row the night inserted or updated is captured (by ``xmin``), and the
   floor is measured: the same rows applied to the pre-night copy with COPY
   into temporary tables and one set-based statement per table, in one
   transaction. Ratio = night / floor.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select

from cli import api
from domain.config import ProductConfig
from drills.bench_figures import (
    BankSplit,
    Run,
    _peak_rss_mb,
    _step_figures,
    _worker_pids,
    bank_split,
)
from drills.bench_floor import _settle, apply_floor, capture
from drills.bench_report import _plot, _report
from drills.bench_seed import _psql, seed_sql
from drills.servers import PostgresServer, start_postgres
from drills.stack import local_stack
from drills.testing import wait_closed
from schedules.business_date import CLOCK_VARIABLE
from store import schema as s
from store.cycle import mark_closed_before
from store.engine import make_engine, migrate

# What others import from here (drills.chaos and tests take _worker_pids and bank_split).
__all__ = ["NIGHT", "Run", "_worker_pids", "bank_split", "bench", "day_events",
           "record_day_events", "run_one", "summary_line"]

NIGHT = date(2026, 6, 15)
# Users per chunk: with two worker processes an even number of chunks per step keeps
# both busy to the step's end, at 100,000 users (8 chunks) as at 1,000,000 (80).
CHUNK_SIZE = 12_500
# The 1/10 and history runs are short (seconds): their night is closed this many
# times, each on a fresh copy of the pre-night database, and the median kept.
SMALL_REPEATS = 3


def _night(pg: PostgresServer, db: str, chunk_size: int, concurrency: int,
           log: Path | None) -> tuple[float, float, int, BankSplit]:
    """Close NIGHT on database ``db`` through real workers, debiting the bank simulator
    over HTTP: (wall seconds, peak worker RSS in MB, the transaction id the night's rows
    are newer than, the deduct's split between bank calls and the rest)."""
    url = pg.url_for(db)
    with psycopg.connect(_psql(url), autocommit=True) as conn:
        _settle(conn)
        xid = int(conn.execute("SELECT txid_current()").fetchone()[0]) % (1 << 32)  # type: ignore[index]
    env = {"CREDITCYCLE_CHUNK_SIZE": str(chunk_size), "CREDITCYCLE_TASK_TIME_LIMIT": "600",
           CLOCK_VARIABLE: f"{NIGHT + timedelta(days=1)}T00:30"}
    samples = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    env["PROMETHEUS_MULTIPROC_DIR"] = str(samples)  # the workers' metrics, for the split
    with local_stack(url, extra_env=env) as st:
        worker = st.start_worker(concurrency, log=log)
        time.sleep(1.0)
        engine = make_engine(url)
        EVENTS.append(record_day_events(engine, _users_of(engine)))
        with psycopg.connect(_psql(url), autocommit=True) as conn:  # the night's rows only
            _settle(conn)
            xid = int(conn.execute("SELECT txid_current()").fetchone()[0]) % (1 << 32)  # type: ignore[index]
        t = time.perf_counter()
        api.submit("creditcycle.cycle.run", date=NIGHT.isoformat())
        wait_closed(engine, NIGHT, timeout=7200)
        wall = time.perf_counter() - t
        rss = _peak_rss_mb(_worker_pids(worker.pid))
        engine.dispose()
    split = bank_split(samples)
    shutil.rmtree(samples, ignore_errors=True)
    return wall, rss, xid, split



# (events, seconds) of each night's recording, read back by ``run_one``.
EVENTS: list[tuple[int, float]] = []


def _users_of(engine: Any) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(s.users.c.id).order_by(s.users.c.id)).scalars())


def day_events(users: list[str], seed: int = 20260615) -> list[dict[str, Any]]:
    """The platform's day before the night (issue 12 item 6): activity for 30% of the
    users, a risk signal for 2%, a wallet top-up for 5%, each with its key."""
    import random

    rng = random.Random(seed)  # noqa: S311 - a repeatable portfolio, not a secret
    at = f"{NIGHT.isoformat()}T12:00:00+08:00"
    out: list[dict[str, Any]] = []
    for u in users:
        roll = rng.random()
        if roll < 0.30:
            out.append({"key": f"act-{u}", "kind": "payment", "user": u, "occurred_at": at})
        if roll < 0.02:
            out.append({"key": f"sig-{u}", "kind": "multi_borrowing_inquiry", "user": u,
                        "occurred_at": at})
        if 0.30 <= roll < 0.35:
            out.append({"key": f"top-{u}", "kind": "wallet_topup", "user": u,
                        "amount": 10_000, "occurred_at": at})
    return out


def record_day_events(engine: Any, users: list[str], timeout: float = 600
                      ) -> tuple[int, float]:
    """Send the day's events through ``creditcycle.events.record`` on the workers, in
    batches of 1,000, and wait until every key is recorded: (events, seconds). A batch
    the workers reject stops the wait with its reason (RuntimeError)."""
    from sqlalchemy import func

    from workers.celery_app import app

    events = day_events(users)
    t = time.perf_counter()
    for i in range(0, len(events), 1000):
        app.send_task("creditcycle.events.record", kwargs={"events": events[i:i + 1000]},
                      queue="cycle")
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            done = int(conn.execute(select(func.count()).select_from(s.recorded_keys))
                       .scalar_one())
            rejected = conn.execute(select(s.rejections.c.field, s.rejections.c.reason)
                                    .where(s.rejections.c.task == "creditcycle.events.record")
                                    ).first()
        if rejected is not None:
            raise RuntimeError(f"events.record rejected a batch: {rejected[0]}: {rejected[1]}")
        if done >= len(events):
            return done, time.perf_counter() - t
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done} of {len(events)} events recorded in {timeout}s")
        time.sleep(0.05)


def run_one(pg: PostgresServer, users: int, *, history_days: int = 0, label: str = "main",
            chunk_size: int = CHUNK_SIZE, concurrency: int = 2, log_dir: Path | None = None,
            repeats: int = 1) -> Run:
    """Seed once; close the night ``repeats`` times, each on a fresh copy of the
    pre-night database, and keep the median night (its steps, its floor)."""
    config = ProductConfig(chunk_size=chunk_size)
    run = Run(label=label, users=users, history_days=history_days)
    pre = f"bench_{label}_pre"
    nights = [f"bench_{label}_{k}" for k in range(repeats)]
    floor_db = f"bench_{label}_floor"
    every = [pre, *nights, floor_db]
    for name in every:
        pg.execute_autocommit(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    url = pg.create_database(pre)
    migrate(url)
    t = time.perf_counter()
    seed_sql(_psql(url), users, NIGHT, history_days, config)
    engine = make_engine(url)
    mark_closed_before(engine, NIGHT)
    engine.dispose()
    run.seed_s = time.perf_counter() - t
    for name in (*nights, floor_db):
        pg.execute_autocommit(f"CREATE DATABASE {name} TEMPLATE {pre}")
    results = []
    for k, db in enumerate(nights):
        log = log_dir / f"worker-{label}-{k}.log" if log_dir else None
        results.append((*_night(pg, db, chunk_size, concurrency, log), db))
    run.nights_s = [round(r[0], 2) for r in results]
    run.events, seconds = EVENTS[-1]
    run.events_per_s = round(run.events / seconds, 1) if seconds else 0.0
    EVENTS.clear()
    wall, _, xid, run.bank, db = sorted(results)[len(results) // 2]
    run.wall_s, run.peak_rss_mb = wall, max(r[1] for r in results)
    run.steps = _step_figures(pg.url_for(db), NIGHT)
    captured = capture(_psql(pg.url_for(db)), xid)
    run.captured_rows = sum(data.count(b"\n") for data in captured.values())
    with psycopg.connect(_psql(pg.url_for(floor_db)), autocommit=True) as conn:
        _settle(conn)
    run.floor_s = apply_floor(_psql(pg.url_for(floor_db)), captured)
    for name in every:
        pg.execute_autocommit(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return run


def bench(users: int, *, scaling: bool = True, out_dir: Path = Path("bench-results"),
          chunk_size: int = CHUNK_SIZE, repeats: int = SMALL_REPEATS) -> list[Run]:
    """Run the bench at ``users`` (with ``scaling``, also smaller and older portfolios).

    Writes bench.json and bench.png to ``out_dir``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {"synchronous_commit": "off", "shared_buffers": "2GB", "work_mem": "64MB",
                "maintenance_work_mem": "1GB", "max_wal_size": "16GB",
                "checkpoint_timeout": "30min", "max_connections": "200"}
    runs: list[Run] = []
    with start_postgres(fast=False, settings=settings) as pg:
        runs.append(_report(run_one(pg, users, label="main", chunk_size=chunk_size,
                                    log_dir=out_dir)))
        if scaling:
            small = max(users // 10, 1000)
            runs.append(_report(run_one(pg, small, label="scale_small", chunk_size=chunk_size,
                                        log_dir=out_dir, repeats=repeats)))
            runs.append(_report(run_one(pg, small, label="history_700d", history_days=700,
                                        chunk_size=chunk_size, log_dir=out_dir,
                                        repeats=repeats)))
    results: dict[str, Any] = {"night": NIGHT.isoformat(), "cores": os.cpu_count(),
               "runs": [r.as_dict() for r in runs]}
    if scaling and len(runs) == 3:
        main_run, small_run, old_run = runs
        small_us, main_us, old_us = (r.us_per_loan for r in (small_run, main_run, old_run))
        results["scaling"] = {
            "us_per_loan_small": round(small_us, 2),
            "us_per_loan_main": round(main_us, 2),
            "linear_within_pct": round(abs(main_us / small_us - 1) * 100, 1),
            "us_per_loan_new": round(small_us, 2),
            "us_per_loan_700d": round(old_us, 2),
            "flat_within_pct": round(abs(old_us / small_us - 1) * 100, 1),
        }
    (out_dir / "bench.json").write_text(json.dumps(results, indent=2))
    _plot(runs, out_dir / "bench.png")
    return runs


def summary_line(run: Run) -> str:
    """The one-line ``bench:`` summary of a run."""
    return (f"bench: users={run.users} wall_s={run.wall_s:.2f} floor_s={run.floor_s:.2f} "
            f"ratio={run.ratio:.2f} peak_rss_mb={run.peak_rss_mb:.0f} "
            f"events={run.events} events_per_s={run.events_per_s:.0f}")
