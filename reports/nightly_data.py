"""``creditcycle report``, the data: what the page (``reports.nightly``) shows, read with
one aggregate per series (``store.report``), so its cost grows with the days and buckets
shown, not with the portfolio; and the series' names and colours.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from domain.config import ProductConfig
from store import cycle_reads
from store import outboxes as outbox_store
from store import report as report_rows
from store.engine import Engine

SOURCES = {"deduct_wallet": "wallet", "deduct_card": "card", "deduct_fund": "fund",
           "repay": "repayment", "recovery": "recovery"}
SOURCE_COLORS = {"wallet": "#4c78a8", "card": "#f58518", "fund": "#54a24b",
                 "repayment": "#b279a2", "recovery": "#9d755d"}
BUCKETS = ("C", "M1", "M2", "M3", "M3+")
SNAPSHOT = (*BUCKETS, "paid off", "written off")
BUCKET_COLORS = {"C": "#54a24b", "M1": "#eeca3b", "M2": "#f58518", "M3": "#e45756",
                 "M3+": "#9d2a2a", "paid off": "#bab0ac", "written off": "#4d4d4d"}
ROLLS = (("C", "M1"), ("M1", "M2"), ("M2", "M3"), ("M3", "M3+"), ("M3+", "written off"))
MONTHS_SHOWN = 12


@dataclass
class ReportData:
    day: date
    first: date
    collected: list[tuple[date, str, int]] = field(default_factory=list)
    delinquent: list[tuple[date, str, int]] = field(default_factory=list)
    month_ends: list[tuple[date, str, int]] = field(default_factory=list)
    rolls: list[tuple[date, date, list[tuple[str, str, int]]]] = field(default_factory=list)
    handoffs: list[tuple[date, int, int]] = field(default_factory=list)
    write_offs: list[tuple[date, int, int]] = field(default_factory=list)
    scores: list[tuple[date, str, int]] = field(default_factory=list)
    limit_changes: list[tuple[date, str, bool, int]] = field(default_factory=list)
    steps: list[Any] = field(default_factory=list)
    chunks: list[Any] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    outboxes: list[Any] = field(default_factory=list)


def gather(engine: Engine, day: date, days: int = 90,
           config: ProductConfig | None = None) -> ReportData:
    """Read what the page shows: ``day`` itself and the ``days`` before it."""
    config = config or ProductConfig()
    bounds = config.bucket_bounds
    first = day - timedelta(days=days - 1)
    with engine.connect() as conn:
        ends = report_rows.month_end_days(conn, day)[-MONTHS_SHOWN:]
        return ReportData(
            day=day, first=first,
            collected=report_rows.collected_by_day(conn, first, day),
            delinquent=report_rows.delinquent_by_day(conn, first, day, bounds),
            month_ends=report_rows.month_end_buckets(conn, ends, bounds),
            rolls=[(a, b, report_rows.month_transitions(conn, a, b, bounds))
                   for a, b in itertools.pairwise(ends)],
            handoffs=report_rows.handoffs_by_day(conn, first, day),
            write_offs=report_rows.write_offs_by_day(conn, first, day),
            scores=report_rows.score_reasons(conn, first, day),
            limit_changes=report_rows.limit_reasons(conn, first, day),
            steps=cycle_reads.step_runs(conn, day),
            chunks=cycle_reads.chunk_stats(conn, day),
            counts=report_rows.day_counts(conn, day),
            statuses=report_rows.loans_by_status(conn),
            outboxes=outbox_store.status(conn))
