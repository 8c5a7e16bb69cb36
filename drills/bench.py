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

import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select

from cli import api
from domain import steps as step_table
from domain.config import ProductConfig
from drills.bench_seed import _psql, seed_sql
from drills.servers import PostgresServer, start_postgres
from drills.stack import local_stack
from drills.testing import wait_closed
from schedules.business_date import CLOCK_VARIABLE
from store import schema as s
from store.cycle import mark_closed_before
from store.engine import make_engine, migrate

NIGHT = date(2026, 6, 15)
# Users per chunk: with two worker processes an even number of chunks per step keeps
# both busy to the step's end, at 100,000 users (8 chunks) as at 1,000,000 (80).
CHUNK_SIZE = 12_500
# The 1/10 and history runs are short (seconds): their night is closed this many
# times, each on a fresh copy of the pre-night database, and the median kept.
SMALL_REPEATS = 3
STEPS = tuple(step.value for step, _ in step_table.NIGHT)  # a night that is no month end


@dataclass
class StepFigure:
    step: str
    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        """Rows written per second of the step."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, order=True)
class BankSplit:
    """The deduct step's time in its chunks, and the part of it spent in calls to the bank
    over HTTP (every bank call of the bench's night is the deduct's: nothing is pending,
    so reconcile asks nothing), summed over the worker processes."""

    chunk_s: float = 0.0
    bank_s: float = 0.0
    calls: int = 0

    @property
    def rest_s(self) -> float:
        """The deduct's chunk time outside the bank calls."""
        return max(self.chunk_s - self.bank_s, 0.0)

    @property
    def bank_share(self) -> float:
        """The bank calls' share of the deduct's chunk time."""
        return self.bank_s / self.chunk_s if self.chunk_s else 0.0


def bank_split(directory: Path) -> BankSplit:
    """The split, from the samples the workers wrote to ``directory`` (prometheus_client's
    multiprocess files: creditcycle_chunk_duration_seconds, ..._bank_call_...)."""
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    chunk_s = bank_s = 0.0
    calls = 0
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "creditcycle_chunk_duration_seconds_sum" and \
                    sample.labels.get("step") == "deduct":
                chunk_s += sample.value
            elif sample.name == "creditcycle_bank_call_duration_seconds_sum":
                bank_s += sample.value
            elif sample.name == "creditcycle_bank_call_duration_seconds_count":
                calls += int(sample.value)
    return BankSplit(round(chunk_s, 3), round(bank_s, 3), calls)


@dataclass
class Run:
    label: str
    users: int
    history_days: int
    seed_s: float = 0.0
    wall_s: float = 0.0
    floor_s: float = 0.0
    captured_rows: int = 0
    peak_rss_mb: float = 0.0
    events: int = 0
    events_per_s: float = 0.0
    nights_s: list[float] = field(default_factory=list)
    steps: list[StepFigure] = field(default_factory=list)
    bank: BankSplit | None = None

    @property
    def ratio(self) -> float:
        """The night's wall time over its floor."""
        return self.wall_s / self.floor_s if self.floor_s else float("inf")

    @property
    def us_per_loan(self) -> float:
        """Wall time per loan (one per user), in microseconds."""
        return self.wall_s / self.users * 1e6

    def as_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data, derived figures included."""
        d = asdict(self)
        d["steps"] = [{**asdict(x), "rows_per_s": round(x.rows_per_s, 1)} for x in self.steps]
        d.update(ratio=round(self.ratio, 2), us_per_loan=round(self.us_per_loan, 2))
        if self.bank is not None:
            d["bank"]["share"] = round(self.bank.bank_share, 3)
        return d


# ---------------------------------------------------------------- the night and its floor
def _worker_pids(root: int) -> list[int]:
    pids = [root]
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            kids.setdefault(int(stat[1]), []).append(int(entry.name))
    i = 0
    while i < len(pids):
        pids.extend(kids.get(pids[i], []))
        i += 1
    return pids


def _peak_rss_mb(pids: list[int]) -> float:
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


def _tables_with_keys() -> list[tuple[str, list[str], list[str]]]:
    out = []
    for table in s.metadata.sorted_tables:
        pk = [c.name for c in table.primary_key.columns]
        cols = [c.name for c in table.columns]
        out.append((table.name, pk, cols))
    return out


def capture(dsn: str, since_xid: int) -> dict[str, bytes]:
    """Every row the night inserted or updated, per table, as COPY text."""
    captured: dict[str, bytes] = {}
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for name, _, _ in _tables_with_keys():
            buf = io.BytesIO()
            with cur.copy(f"COPY (SELECT * FROM {name} WHERE xmin::text::bigint >= "
                          f"{since_xid}) TO STDOUT") as cp:
                for chunk in cp:
                    buf.write(chunk)
            if buf.tell():
                captured[name] = buf.getvalue()
    return captured


def apply_floor(dsn: str, captured: dict[str, bytes]) -> float:
    """Apply the captured rows to the pre-night copy: COPY + one statement per table."""
    keys = {name: (pk, cols) for name, pk, cols in _tables_with_keys()}
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        t = time.perf_counter()
        for name, data in captured.items():
            pk, cols = keys[name]
            tmp = f"floor_{name}"
            cur.execute(f"CREATE TEMP TABLE {tmp} (LIKE {name}) ON COMMIT DROP")
            with cur.copy(f"COPY {tmp} FROM STDIN") as cp:
                cp.write(data)
            rest = [c for c in cols if c not in pk]
            action = ("DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
                      if rest else "DO NOTHING")
            cur.execute(f"INSERT INTO {name} SELECT * FROM {tmp} "
                        f"ON CONFLICT ({', '.join(pk)}) {action}")
        conn.commit()
        return time.perf_counter() - t


def _step_figures(url: str, night: date) -> list[StepFigure]:
    engine = make_engine(url)
    c, k = s.cycle_runs.c, s.chunk_runs.c
    figures = []
    with engine.connect() as conn:
        runs = {r.step: r for r in conn.execute(select(s.cycle_runs).where(c.day == night))}
        rows: dict[str, int] = {}
        for step, n in conn.execute(select(k.step, k.rows).where(k.day == night)):
            rows[step] = rows.get(step, 0) + (n or 0)
    engine.dispose()
    for step in STEPS:
        r = runs.get(step)
        if r is None or r.finished_at is None:
            continue
        figures.append(StepFigure(step, rows.get(step, 0),
                                  (r.finished_at - r.started_at).total_seconds()))
    return figures


def _settle(conn: psycopg.Connection[Any]) -> None:
    """A fresh copy as a database stands before its night: vacuumed and analyzed (as
    autovacuum leaves it), in the cache (as a day's traffic leaves it), and with the
    benchmark's own writes (seeding, gigabytes of copies, WAL-logged by CREATE
    DATABASE) checkpointed and flushed, so that neither the night nor its floor pays
    for them. Each starts from such a copy."""
    conn.execute("VACUUM (ANALYZE)")
    conn.execute("CHECKPOINT")
    os.sync()


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
    if not app.control.ping(timeout=60.0, limit=1):  # timed from a worker that consumes
        raise RuntimeError("no worker answered a ping in 60 s")
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


def _report(run: Run) -> Run:
    print(f"\n== {run.label}: {run.users:,} users, {run.history_days}-day history "
          f"(seeded in {run.seed_s:.1f}s)")
    print(f"{'step':<16}{'rows':>10}{'seconds':>10}{'rows/s':>12}")
    for f in run.steps:
        print(f"{f.step:<16}{f.rows:>10,}{f.seconds:>10.2f}{f.rows_per_s:>12,.0f}")
    if run.bank is not None:
        b = run.bank
        print(f"deduct chunks {b.chunk_s:.2f}s: bank calls {b.bank_s:.2f}s "
              f"({b.bank_share:.0%}, {b.calls:,} calls over HTTP), the rest {b.rest_s:.2f}s")
    if len(run.nights_s) > 1:
        print(f"nights (s): {', '.join(f'{x:.2f}' for x in run.nights_s)}; median kept")
    print(f"night wall {run.wall_s:.2f}s; floor {run.floor_s:.2f}s for {run.captured_rows:,} "
          f"changed rows; ratio {run.ratio:.2f}; peak worker RSS {run.peak_rss_mb:.0f} MB; "
          f"{run.us_per_loan:.1f} us per loan", flush=True)
    return run


def _plot(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    main = runs[0]
    a.barh([f.step for f in main.steps], [f.seconds for f in main.steps], color="#3b6ea5")
    a.axvline(main.floor_s, color="#c0392b", linestyle="--", label=f"floor {main.floor_s:.1f}s")
    a.set_title(f"{main.users:,} users: seconds per step (night {main.wall_s:.1f}s)")
    a.invert_yaxis()
    a.legend()
    labels = [f"{r.label}\n{r.users:,}" for r in runs]
    b.bar(labels, [r.us_per_loan for r in runs], color=["#3b6ea5", "#7fa7d6", "#e0a458"][
        :len(runs)])
    b.set_ylabel("microseconds per loan")
    b.set_title("cost per loan: size and history")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_line(run: Run) -> str:
    """The one-line ``bench:`` summary of a run."""
    return (f"bench: users={run.users} wall_s={run.wall_s:.2f} floor_s={run.floor_s:.2f} "
            f"ratio={run.ratio:.2f} peak_rss_mb={run.peak_rss_mb:.0f} "
            f"events={run.events} events_per_s={run.events_per_s:.0f}")
