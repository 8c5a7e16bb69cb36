"""``make bench``, what a run measures: its figures (steps, the bank's share of deduct, the
run itself) and the worker processes' memory. Used by ``drills.bench``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from domain import steps as step_table
from store import schema as s
from store.engine import make_engine

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
    local_bank_s: float | None = None  # the night with the bank inside the database
    profile: str | None = None  # the profile's file in the results directory

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

