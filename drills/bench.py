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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select

from cli import api
from domain.config import ProductConfig
from drills.bench_figures import (
    STEPS,
    BankSplit,
    Run,
    _peak_rss_mb,
    _step_figures,
    _worker_pids,
    bank_split,
)
from drills.bench_floor import _settle, apply_floor, capture
from drills.bench_profile import PG_SETTINGS, NightProfiler, Profile, postmaster_pid
from drills.bench_progress import Phase, Phases, watch_night
from drills.bench_report import _plot, _report
from drills.bench_seed import _psql, seed_sql
from drills.servers import PostgresServer, start_postgres
from drills.stack import BankMode, local_stack
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
MIN_USERS, MAX_USERS = 1000, 5_000_000  # 5M: the largest portfolio issue 14 asks for


@dataclass
class Night:
    wall_s: float
    rss_mb: float
    xid: int  # the transaction id the night's rows are newer than
    bank: BankSplit
    db: str
    profile: Profile | None = None


def _night(pg: PostgresServer, db: str, chunk_size: int, concurrency: int,
           log: Path | None, *, phases: Phases, name: str, users: int = 0,
           profile: bool = False, bank: BankMode = "sim") -> Night:
    """Close NIGHT on database ``db`` through real workers, debiting the bank simulator
    over HTTP (``bank="local"``: the simulator in the database, as before issue 13), the
    day's events recorded first; with ``profile`` the night's profile too."""
    url = pg.url_for(db)
    with psycopg.connect(_psql(url), autocommit=True) as conn:
        _settle(conn)
    env = {"CREDITCYCLE_CHUNK_SIZE": str(chunk_size), "CREDITCYCLE_TASK_TIME_LIMIT": "600",
           CLOCK_VARIABLE: f"{NIGHT + timedelta(days=1)}T00:30"}
    samples = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    env["PROMETHEUS_MULTIPROC_DIR"] = str(samples)  # the workers' metrics, for the split
    profiler: NightProfiler | None = None
    with local_stack(url, extra_env=env, bank=bank) as st:
        worker = st.start_worker(concurrency, log=log)
        time.sleep(1.0)
        engine = make_engine(url)
        with phases.phase(f"events {name}") as ph:
            EVENTS.append(_record_events(engine, ph))
        with psycopg.connect(_psql(url), autocommit=True) as conn:  # the night's rows only
            _settle(conn)
            xid = int(conn.execute("SELECT txid_current()").fetchone()[0]) % (1 << 32)  # type: ignore[index]
        if profile:
            sim = st.bank.proc if st.bank is not None else None
            profiler = NightProfiler(pg.url_for("postgres", "postgresql"), _psql(url), db,
                                     worker_pid=worker.pid, pg_pid=postmaster_pid(pg.data_dir),
                                     bank_pid=sim.pid if sim is not None else None)
        with phases.phase(f"night {name}", total=len(STEPS)) as ph:
            t = time.perf_counter()
            api.submit("creditcycle.cycle.run", date=NIGHT.isoformat())
            watch_night(engine, NIGHT, ph, STEPS, sample=profiler.sample if profiler else None)
            wall = time.perf_counter() - t
            ph.end(f"closed, {wall:.2f}s from the run to the close")
        steps = profiler.finish(STEPS) if profiler else []
        rss = _peak_rss_mb(_worker_pids(worker.pid))
        engine.dispose()
    split = bank_split(samples)
    shutil.rmtree(samples, ignore_errors=True)
    night = Night(wall, rss, xid, split, db)
    if profiler is not None:
        night.profile = Profile(name, users, steps, profiler.table_changes(), split)
        profiler.close()
    return night


def _record_events(engine: Any, phase: Phase) -> tuple[int, float]:
    """``record_day_events`` for every user, its count drawn on a terminal."""
    users = _users_of(engine)
    if phase.phases.bar is None:
        n, seconds = record_day_events(engine, users)
    else:
        with ThreadPoolExecutor(1) as pool:
            job = pool.submit(record_day_events, engine, users)
            while not job.done():
                phase.update(f"{_recorded(engine):,} recorded")
                time.sleep(0.5)
            n, seconds = job.result()
    phase.end(f"{n:,} events through events.record, {n / max(seconds, 1e-9):,.0f}/s")
    return n, seconds


def _recorded(engine: Any) -> int:
    """The events ``events.record`` has recorded (each is one row with its digest)."""
    from sqlalchemy import func

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(s.events)
                                .where(s.events.c.digest.is_not(None))).scalar_one())


def _last_event_id(engine: Any) -> int:
    """The highest id of a committed events row (one index probe, where a count scans
    every row recorded so far: polled 20 times a second, a count took a share of the
    cores the recording is timed on)."""
    from sqlalchemy import func

    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(s.events.c.id), 0)))
                   .scalar_one())


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
    from workers.celery_app import app

    events = day_events(users)
    base = _last_event_id(engine)
    sent = time.perf_counter()
    for i in range(0, len(events), 1000):
        app.send_task("creditcycle.events.record", kwargs={"events": events[i:i + 1000]},
                      queue="cycle")
    # Timed from the first recorded key, not from the sending: a worker still booting
    # (3-4 s under load) is no part of the recording. The rate over the rest is scaled
    # to every event, so the seconds returned are those of a recording at that rate.
    # Progress is read from the highest event id (ids of a batch still committing may
    # be missing below it, so the end is confirmed by a count).
    deadline = time.monotonic() + timeout
    first: tuple[float, int] | None = None
    while True:
        done = _last_event_id(engine) - base
        with engine.connect() as conn:
            rejected = conn.execute(select(s.rejections.c.field, s.rejections.c.reason)
                                    .where(s.rejections.c.task == "creditcycle.events.record")
                                    ).first()
        now = time.perf_counter()
        if rejected is not None:
            raise RuntimeError(f"events.record rejected a batch: {rejected[0]}: {rejected[1]}")
        if first is None and done:
            first = (now, done)
        if done >= len(events) and (done := _recorded(engine)) >= len(events):
            if first is None or done <= first[1]:  # all at once: from the sending
                return done, now - sent
            return done, (now - first[0]) * done / (done - first[1])
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done} of {len(events)} events recorded in {timeout}s")
        time.sleep(0.05)


def run_one(pg: PostgresServer, users: int, *, history_days: int = 0, label: str = "main",
            chunk_size: int = CHUNK_SIZE, concurrency: int = 2, log_dir: Path | None = None,
            repeats: int = 1, phases: Phases | None = None, profile: bool = False,
            local_bank: bool = False) -> Run:
    """Seed once; close the night ``repeats`` times, each on a fresh copy of the
    pre-night database, and keep the median night (its steps, its floor). With
    ``profile`` the kept night's profile goes to ``log_dir``; with ``local_bank`` one more
    night on a fresh copy debits the simulator inside the database (``local_bank_s``)."""
    phases = phases or Phases(show=False)
    config = ProductConfig(chunk_size=chunk_size)
    run = Run(label=label, users=users, history_days=history_days)
    pre = f"bench_{label}_pre"
    nights = [f"bench_{label}_{k}" for k in range(repeats)]
    local_db = [f"bench_{label}_local"] if local_bank else []
    floor_db = f"bench_{label}_floor"
    every = [pre, *nights, *local_db, floor_db]
    for name in every:
        pg.execute_autocommit(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    url = pg.create_database(pre)
    migrate(url)
    with phases.phase(f"seed {label} ({users:,} users)") as ph:
        seed_sql(_psql(url), users, NIGHT, history_days, config, step=ph.update)
        engine = make_engine(url)
        mark_closed_before(engine, NIGHT)
        engine.dispose()
        run.seed_s = ph.end("seeded")
    copies = (*nights, *local_db, floor_db)
    with phases.phase(f"copies {label}", total=len(copies)) as ph:
        for k, name in enumerate(copies):
            ph.update(name, completed=k)
            pg.execute_autocommit(f"CREATE DATABASE {name} TEMPLATE {pre}")
        ph.end(f"{len(copies)} copies of the pre-night database")
    results: list[Night] = []
    for k, db in enumerate(nights):
        log = log_dir / f"worker-{label}-{k}.log" if log_dir else None
        results.append(_night(pg, db, chunk_size, concurrency, log, phases=phases,
                              name=f"{label} {k + 1}/{repeats}", users=users, profile=profile))
    for db in local_db:
        log = log_dir / f"worker-{label}-local.log" if log_dir else None
        local = _night(pg, db, chunk_size, concurrency, log, phases=phases,
                       name=f"{label} in-process bank", bank="local")
        run.local_bank_s = round(local.wall_s, 2)
    run.nights_s = [round(r.wall_s, 2) for r in results]
    run.events, seconds = EVENTS[0]
    run.events_per_s = round(run.events / seconds, 1) if seconds else 0.0
    EVENTS.clear()
    kept = sorted(results, key=lambda r: r.wall_s)[len(results) // 2]
    run.wall_s, run.bank = kept.wall_s, kept.bank
    run.peak_rss_mb = max(r.rss_mb for r in results)
    run.steps = _step_figures(pg.url_for(kept.db), NIGHT)
    if kept.profile is not None and log_dir is not None:
        kept.profile.label = label
        run.profile = kept.profile.write(log_dir)[1].name
    with phases.phase(f"floor {label}") as ph:
        ph.update("capturing the night's rows")
        captured = capture(_psql(pg.url_for(kept.db)), kept.xid)
        run.captured_rows = sum(data.count(b"\n") for data in captured.values())
        ph.update(f"applying {run.captured_rows:,} rows to a settled copy")
        with psycopg.connect(_psql(pg.url_for(floor_db)), autocommit=True) as conn:
            _settle(conn)
        run.floor_s = apply_floor(_psql(pg.url_for(floor_db)), captured)
        ph.end(f"{run.captured_rows:,} rows applied in {run.floor_s:.2f}s")
    for name in every:
        pg.execute_autocommit(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return run


def bench(users: int, *, scaling: bool = True, out_dir: Path = Path("bench-results"),
          chunk_size: int = CHUNK_SIZE, repeats: int = SMALL_REPEATS, profile: bool = False,
          sizes: tuple[int, ...] = (), local_bank: bool = False,
          show: bool = True) -> list[Run]:
    """Run the bench at ``users`` (with ``scaling``, also smaller and older portfolios;
    ``sizes``: one night more at each of these sizes, for the cost per loan across
    sizes). ``profile``: where each night's time goes (``drills.bench_profile``);
    ``local_bank``: the main night once more with the bank inside the database.

    Writes bench.json and bench.png (and profile-<label>.json/.txt) to ``out_dir``.
    """
    for n in (users, *sizes):
        if not MIN_USERS <= n <= MAX_USERS:
            raise ValueError(f"users: {n:,} is outside {MIN_USERS:,}..{MAX_USERS:,}")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {"synchronous_commit": "off", "shared_buffers": "2GB", "work_mem": "64MB",
                "maintenance_work_mem": "1GB", "max_wal_size": "16GB",
                "checkpoint_timeout": "30min", "max_connections": "200",
                **(PG_SETTINGS if profile else {})}
    runs: list[Run] = []
    with start_postgres(fast=False, settings=settings) as pg, Phases(show=show) as phases:
        one = partial(run_one, pg, chunk_size=chunk_size, log_dir=out_dir, phases=phases,
                      profile=profile)
        runs.append(_report(one(users, label="main", local_bank=local_bank)))
        if scaling:
            small = max(users // 10, 1000)
            runs.append(_report(one(small, label="scale_small", repeats=repeats)))
            runs.append(_report(one(small, label="history_700d", history_days=700,
                                    repeats=repeats)))
        for n in sizes:
            runs.append(_report(one(n, label=f"size_{n}")))
    results: dict[str, Any] = {"night": NIGHT.isoformat(), "cores": os.cpu_count(),
                               "bank": "simulator over HTTP (adapters.bank_sim)",
                               "runs": [r.as_dict() for r in runs]}
    results["scaling"] = _scaling(runs)
    (out_dir / "bench.json").write_text(json.dumps(results, indent=2))
    _plot(runs, out_dir / "bench.png")
    return runs


def _scaling(runs: list[Run]) -> dict[str, Any]:
    """Cost per loan across sizes (every run of new loans) and across history."""
    by_label = {r.label: r for r in runs}
    out: dict[str, Any] = {}
    sized = sorted((r for r in runs if r.history_days == 0), key=lambda r: r.users)
    if len(sized) > 1:
        us = [r.us_per_loan for r in sized]
        out["us_per_loan_by_users"] = {str(r.users): round(r.us_per_loan, 2) for r in sized}
        out["sizes_within_pct"] = round((max(us) / min(us) - 1) * 100, 1)
    main, small, old = (by_label.get(k) for k in ("main", "scale_small", "history_700d"))
    if main and small and old:
        small_us, main_us, old_us = (r.us_per_loan for r in (small, main, old))
        out.update({
            "us_per_loan_small": round(small_us, 2),
            "us_per_loan_main": round(main_us, 2),
            "linear_within_pct": round(abs(main_us / small_us - 1) * 100, 1),
            "us_per_loan_new": round(small_us, 2),
            "us_per_loan_700d": round(old_us, 2),
            "flat_within_pct": round(abs(old_us / small_us - 1) * 100, 1),
        })
    return out


def summary_line(run: Run) -> str:
    """The one-line ``bench:`` summary of a run."""
    return (f"bench: users={run.users} wall_s={run.wall_s:.2f} floor_s={run.floor_s:.2f} "
            f"ratio={run.ratio:.2f} peak_rss_mb={run.peak_rss_mb:.0f} "
            f"events={run.events} events_per_s={run.events_per_s:.0f}")
