"""``creditcycle bench --profile``: where a night's time goes, per step.

While the night runs, the bench's watch loop tells the profiler which step is running
(``NightProfiler.sample``); at every change of step it reads PostgreSQL's statement
statistics (pg_stat_statements, reset just before the night) and the CPU time of the
processes involved (/proc: the worker tree, PostgreSQL's backends, the bank simulator),
and charges the difference to the step that was running. After the night it adds the
tables' row changes (pg_stat_user_tables: how many updates were HOT) and the deduct's
split between bank calls and the rest. Steps shorter than the watch loop's poll (0.1 s)
are charged to the step seen next to them. Written to the results directory as
``profile-<label>.json`` and ``profile-<label>.txt``.

Off (the default) none of this runs: PostgreSQL starts without the extension and the
watch loop only reads what it needs to draw progress.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from drills.bench_figures import BankSplit, _worker_pids

#: postgresql.conf lines a profiled bench starts its PostgreSQL with.
PG_SETTINGS = {"shared_preload_libraries": "pg_stat_statements",
               "pg_stat_statements.max": "5000", "pg_stat_statements.track": "top",
               "track_io_timing": "on"}
TOP = 8  # statements shown per step
_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids``, and of their children already reaped."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone since it was listed
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / _TICK


def postmaster_pid(data_dir: Path) -> int:
    """The PID of the PostgreSQL server running on ``data_dir``."""
    return int((data_dir / "postmaster.pid").read_text().split()[0])


@dataclass
class Statement:
    query: str
    calls: int
    total_ms: float
    rows: int
    read_ms: float

    @property
    def mean_ms(self) -> float:
        """Mean time per call."""
        return self.total_ms / self.calls if self.calls else 0.0


@dataclass
class StepProfile:
    step: str
    wall_s: float = 0.0
    pg_exec_s: float = 0.0  # the statements' execution time (pg_stat_statements), summed
    pg_cpu_s: float = 0.0  # CPU of PostgreSQL's processes
    workers_cpu_s: float = 0.0
    bank_sim_cpu_s: float = 0.0
    statements: list[Statement] = field(default_factory=list)


@dataclass
class TableChanges:
    table: str
    inserted: int
    updated: int
    hot_updated: int

    @property
    def hot_share(self) -> float:
        """The share of the updates that were HOT (no index entry written)."""
        return self.hot_updated / self.updated if self.updated else 0.0


@dataclass
class Profile:
    label: str
    users: int
    steps: list[StepProfile]
    tables: list[TableChanges]
    bank: BankSplit | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, derived figures included."""
        d = asdict(self)
        for step, raw in zip(self.steps, d["steps"], strict=True):
            for s, r in zip(step.statements, raw["statements"], strict=True):
                r["mean_ms"] = round(s.mean_ms, 3)
        for t, raw in zip(self.tables, d["tables"], strict=True):
            raw["hot_share"] = round(t.hot_share, 3)
        if self.bank is not None:
            d["bank"]["share"] = round(self.bank.bank_share, 3)
        return d

    def text(self) -> str:
        """The profile as a readable table."""
        out = [f"profile of {self.label} ({self.users:,} users): per step, PostgreSQL's "
               "time against the workers'",
               f"{'step':<16}{'wall s':>8}{'pg exec s':>11}{'pg cpu s':>10}"
               f"{'workers cpu s':>15}{'bank-sim cpu s':>16}"]
        for p in self.steps:
            out.append(f"{p.step:<16}{p.wall_s:>8.2f}{p.pg_exec_s:>11.2f}{p.pg_cpu_s:>10.2f}"
                       f"{p.workers_cpu_s:>15.2f}{p.bank_sim_cpu_s:>16.2f}")
        if self.bank is not None:
            b = self.bank
            out.append(f"deduct chunks {b.chunk_s:.2f}s (summed over workers): bank calls "
                       f"{b.bank_s:.2f}s ({b.bank_share:.0%}, {b.calls:,} calls), "
                       f"the rest {b.rest_s:.2f}s")
        out.append("")
        out.append(f"{'table':<24}{'inserted':>10}{'updated':>10}{'HOT':>10}{'HOT %':>7}")
        for t in self.tables:
            out.append(f"{t.table:<24}{t.inserted:>10,}{t.updated:>10,}{t.hot_updated:>10,}"
                       f"{t.hot_share:>7.0%}")
        for p in self.steps:
            if not p.statements:
                continue
            out.append("")
            out.append(f"-- {p.step}: top statements by total time")
            out.append(f"{'total ms':>10}{'calls':>8}{'mean ms':>9}{'rows':>10}{'read ms':>9}"
                       "  query")
            for s in p.statements:
                out.append(f"{s.total_ms:>10.1f}{s.calls:>8,}{s.mean_ms:>9.2f}{s.rows:>10,}"
                           f"{s.read_ms:>9.1f}  {s.query}")
        return "\n".join(out) + "\n"

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """profile-<label>.json and profile-<label>.txt in ``out_dir``."""
        js, txt = out_dir / f"profile-{self.label}.json", out_dir / f"profile-{self.label}.txt"
        js.write_text(json.dumps(self.as_dict(), indent=2))
        txt.write_text(self.text())
        return js, txt


_STATEMENTS = """
    SELECT queryid, calls, total_exec_time, rows, blk_read_time, query
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = %s)"""
_TABLES = """
    SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"""

Snapshot = dict[int, tuple[int, float, int, float, str]]


def _short(query: str, width: int = 110) -> str:
    """One line of ``query``; a chunk's own temporary table (bulk_users_57) as one name."""
    one = re.sub(r"\b(bulk_[a-z_]+?)_\d+\b", r"\1_N", re.sub(r"\s+", " ", query).strip())
    return one if len(one) <= width else one[:width - 3] + "..."


class NightProfiler:
    """Charges statement time and CPU to the step running when they were spent.

    ``admin_dsn`` names the server's ``postgres`` database (where the extension is
    created), ``database`` the night's database, ``worker_pid`` the root of the worker
    tree, ``pg_pid`` the postmaster, ``bank_pid`` the bank simulator (or None)."""

    def __init__(self, admin_dsn: str, night_dsn: str, database: str, *, worker_pid: int,
                 pg_pid: int, bank_pid: int | None) -> None:
        self.database, self.worker_pid, self.pg_pid = database, worker_pid, pg_pid
        self.bank_pid = bank_pid
        self.admin = psycopg.connect(admin_dsn, autocommit=True)
        self.night_dsn = night_dsn
        self.admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        self.steps: dict[str, StepProfile] = {}
        self.step: str | None = None
        self._settled_counters()
        self.tables_before = self._tables()
        self.admin.execute("SELECT pg_stat_statements_reset()")
        self.mark = self._mark()

    def _mark(self) -> tuple[float, Snapshot, float, float, float]:
        import time

        rows = self.admin.execute(_STATEMENTS, (self.database,)).fetchall()
        snap = {int(r[0]): (int(r[1]), float(r[2]), int(r[3]), float(r[4]), str(r[5]))
                for r in rows if r[0] is not None}
        pg = process_cpu_s(_worker_pids(self.pg_pid))
        workers = process_cpu_s(_worker_pids(self.worker_pid))
        bank = process_cpu_s([self.bank_pid]) if self.bank_pid else 0.0
        return time.perf_counter(), snap, pg, workers, bank

    def _tables(self) -> dict[str, tuple[int, int, int]]:
        with psycopg.connect(self.night_dsn) as conn:
            return {r[0]: (int(r[1]), int(r[2]), int(r[3]))
                    for r in conn.execute(_TABLES).fetchall()}

    def _settled_counters(self, timeout: float = 15.0) -> None:
        """Wait until the workers' backends have reported the day's events to the table
        counters (an idle backend reports up to 10 s late), so that the night's row
        changes are counted from where the events left them."""
        import time

        deadline = time.monotonic() + timeout
        with psycopg.connect(self.night_dsn, autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute("SELECT (SELECT count(*) FROM events), n_tup_ins "
                                   "FROM pg_stat_user_tables WHERE relname = 'events'"
                                   ).fetchone()
                if row is None or int(row[1]) >= int(row[0]):
                    return
                time.sleep(0.2)

    def sample(self, step: str | None) -> None:
        """The step running now (None between steps): a change charges the last one."""
        if step is None or step == self.step:
            return
        self._charge()
        self.step = step

    def _charge(self) -> None:
        now = self._mark()
        if self.step is not None:
            p = self.steps.setdefault(self.step, StepProfile(self.step))
            t0, snap0, pg0, w0, b0 = self.mark
            t1, snap1, pg1, w1, b1 = now
            p.wall_s += t1 - t0
            p.pg_cpu_s += pg1 - pg0
            p.workers_cpu_s += w1 - w0
            p.bank_sim_cpu_s += b1 - b0
            for qid, (calls, ms, rows, read, query) in snap1.items():
                c0, ms0, r0, rd0, _ = snap0.get(qid, (0, 0.0, 0, 0.0, ""))
                if calls > c0:
                    p.pg_exec_s += (ms - ms0) / 1000
                    p.statements.append(Statement(_short(query), calls - c0,
                                                  round(ms - ms0, 3), rows - r0,
                                                  round(read - rd0, 3)))
        self.mark = now

    def finish(self, order: tuple[str, ...]) -> list[StepProfile]:
        """Charge the last step (call when the night is closed, workers still up)."""
        self._charge()
        self.step = None
        out = []
        for name in (*order, *sorted(set(self.steps) - set(order))):
            p = self.steps.get(name)
            if p is None:
                continue
            merged: dict[str, Statement] = {}
            for s in p.statements:  # one query text may come back under a new queryid
                m = merged.setdefault(s.query, Statement(s.query, 0, 0.0, 0, 0.0))
                m.calls += s.calls
                m.total_ms = round(m.total_ms + s.total_ms, 3)
                m.rows += s.rows
                m.read_ms = round(m.read_ms + s.read_ms, 3)
            p.statements = sorted(merged.values(), key=lambda s: -s.total_ms)[:TOP]
            for attr in ("wall_s", "pg_exec_s", "pg_cpu_s", "workers_cpu_s", "bank_sim_cpu_s"):
                setattr(p, attr, round(getattr(p, attr), 3))
            out.append(p)
        return out

    def table_changes(self) -> list[TableChanges]:
        """Rows inserted, updated and HOT-updated per table during the night (call after
        the workers stopped: a backend's counters reach the view when it exits)."""
        after = self._tables()
        out = []
        for name, (ins, upd, hot) in sorted(after.items()):
            i0, u0, h0 = self.tables_before.get(name, (0, 0, 0))
            if ins - i0 or upd - u0:
                out.append(TableChanges(name, ins - i0, upd - u0, hot - h0))
        return out

    def close(self) -> None:
        """Close the profiler's connection."""
        self.admin.close()
