"""``creditcycle report``, the plots: SVG drawn by matplotlib, one per section of the page."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.steps import CLOSE
from reports.nightly_data import (
    BUCKET_COLORS,
    BUCKETS,
    ROLLS,
    SNAPSHOT,
    SOURCE_COLORS,
    SOURCES,
    ReportData,
)
from store.cycle_reads import label_of

# ---------------------------------------------------------------- plots
FULL = 12.6
HALF = 6.2


def _figure(width: float = FULL, height: float = 2.8) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _svg(fig: Any) -> str:
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = "creditcycle"
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _style(ax: Any, title: str) -> None:
    ax.set_title(title, loc="left", fontsize=10, color="#333")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8, colors="#444")


def _date_axis(ax: Any) -> None:
    from matplotlib import dates as mdates

    loc = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def _integer_axis(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def plot_collected(d: ReportData) -> str:
    """SVG: money collected per day, by source."""
    days = _days(d.first, d.day)
    series: dict[str, dict[date, int]] = defaultdict(dict)
    for day, kind, fen in d.collected:
        series[SOURCES[kind]][day] = fen
    fig = _figure()
    ax = fig.add_subplot()
    bottom = [0.0] * len(days)
    for name, color in SOURCE_COLORS.items():
        values = [series[name].get(x, 0) / 100 for x in days]
        if any(values):
            ax.bar(days, values, bottom=bottom, color=color, label=name, width=0.9)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _style(ax, "Money collected per source (yuan per business date)")
    _date_axis(ax)
    ax.axvline(d.day, color="#222", linewidth=0.8, linestyle=":")
    if any(bottom):
        ax.legend(fontsize=8, frameon=False, ncols=5, loc="upper left")
    return _svg(fig)


def plot_delinquent(d: ReportData) -> str:
    """SVG: delinquent loans per day, by bucket."""
    days = _days(d.first, d.day)
    counts: dict[str, dict[date, int]] = defaultdict(dict)
    for day, bucket, n in d.delinquent:
        counts[bucket][day] = n
    fig = _figure(HALF, 3.0)
    ax = fig.add_subplot()
    stacks = [[counts[b].get(x, 0) for x in days] for b in BUCKETS[1:]]
    ax.stackplot(days, stacks, labels=BUCKETS[1:],
                 colors=[BUCKET_COLORS[b] for b in BUCKETS[1:]], alpha=0.9)
    _style(ax, "Overdue loans per bucket, day by day")
    _integer_axis(ax.yaxis)
    _date_axis(ax)
    ax.legend(fontsize=8, frameon=False, ncols=4, loc="upper left")
    return _svg(fig)


def plot_month_ends(d: ReportData) -> str:
    """SVG: loans per bucket at each month end."""
    ends = sorted({x for x, _, _ in d.month_ends})
    counts = {(x, b): n for x, b, n in d.month_ends}
    fig = _figure(HALF, 3.0)
    ax = fig.add_subplot()
    labels = [x.strftime("%Y-%m") for x in ends]
    bottom = [0] * len(ends)
    for b in SNAPSHOT:
        values = [counts.get((x, b), 0) for x in ends]
        if any(values):
            ax.bar(labels, values, bottom=bottom, color=BUCKET_COLORS[b], label=b, width=0.6)
            bottom = [p + v for p, v in zip(bottom, values, strict=True)]
    _style(ax, "Loans per bucket at month ends")
    _integer_axis(ax.yaxis)
    ax.legend(fontsize=7, frameon=False, ncols=4, loc="upper left", bbox_to_anchor=(0, -0.1))
    return _svg(fig)


def roll_rates(d: ReportData) -> list[tuple[date, dict[tuple[str, str], float | None]]]:
    """Per month: the share of loans in bucket A at the previous month end found in B."""
    out = []
    for _, after, rows in d.rolls:
        base: Counter[str] = Counter()
        moved: Counter[tuple[str, str]] = Counter()
        for a, b, n in rows:
            base[a] += n
            moved[(a, b)] += n
        out.append((after, {(a, b): (moved[(a, b)] / base[a] if base[a] else None)
                            for a, b in ROLLS}))
    return out


def plot_rolls(d: ReportData) -> str:
    """SVG: roll rates between buckets, month by month."""
    rates = roll_rates(d)
    fig = _figure(HALF, 3.0)
    ax = fig.add_subplot()
    labels = [x.strftime("%Y-%m") for x, _ in rates]
    for (a, b) in ROLLS:
        values = [r[(a, b)] for _, r in rates]
        points = [(lab, v * 100) for lab, v in zip(labels, values, strict=True) if v is not None]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                    label=f"{a} → {b}", color=BUCKET_COLORS[b], linewidth=1.6)
    _style(ax, "Roll rates, month over month (% of the bucket moving on)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, frameon=False, ncols=3, loc="upper left", bbox_to_anchor=(0, -0.1))
    return _svg(fig)


def plot_collection(d: ReportData) -> str:
    """SVG: agency handoffs and write-offs per day."""
    days = _days(d.first, d.day)
    hand = {x: n for x, n, _ in d.handoffs}
    wo = {x: n for x, n, _ in d.write_offs}
    fig = _figure(HALF, 3.0)
    ax = fig.add_subplot()
    ax.bar(days, [hand.get(x, 0) for x in days], color="#f58518", label="agency handoffs",
           width=0.9)
    ax.bar(days, [-wo.get(x, 0) for x in days], color="#4d4d4d", label="write-offs (below)",
           width=0.9)
    ax.axhline(0, color="#888", linewidth=0.6)
    _style(ax, "Agency handoffs (up) and write-offs (down), loans per day")
    _integer_axis(ax.yaxis)
    _date_axis(ax)
    ax.legend(fontsize=8, frameon=False, ncols=2, loc="upper left")
    return _svg(fig)


def reason_counts(d: ReportData) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Score events by reason; limit cuts and raises by reason code, over the window."""
    score: Counter[str] = Counter()
    for _, reason, n in d.scores:
        score[reason] += n
    cuts: Counter[str] = Counter()
    raises: Counter[str] = Counter()
    for _, reasons, up, n in d.limit_changes:
        for code in reasons.split(","):
            (raises if up else cuts)[code] += n
    return score, cuts, raises


def plot_reasons(d: ReportData) -> str:
    """SVG: score change reasons, and limit cuts and raises, over the period."""
    score, cuts, raises = reason_counts(d)
    fig = _figure(height=3.0)
    left, right = fig.subplots(1, 2)
    if score:
        names = sorted(score, key=lambda k: score[k])
        left.barh(names, [score[k] for k in names], color="#4c78a8")
    _style(left, "Score changes by reason")
    limit_names = sorted(set(cuts) | set(raises), key=lambda k: cuts[k] + raises[k])
    if limit_names:
        right.barh(limit_names, [-cuts[k] for k in limit_names], color="#e45756", label="cuts")
        right.barh(limit_names, [raises[k] for k in limit_names], color="#54a24b",
                   label="raises")
        right.axvline(0, color="#888", linewidth=0.6)
        right.legend(fontsize=8, frameon=False, loc="lower right")
    _style(right, "Limit changes by reason code")
    for ax in (left, right):
        _integer_axis(ax.xaxis)
        ax.grid(axis="x", color="#e5e5e5", linewidth=0.8)
        ax.grid(axis="y", visible=False)
    return _svg(fig)


def _when(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def step_timings(d: ReportData) -> list[tuple[str, str, float, float]]:
    """(step, status, seconds from the first start, duration in seconds), in start order."""
    starts = [_when(r.started_at) for r in d.steps if r.started_at is not None]
    if not starts:
        return []
    origin = min(x for x in starts if x is not None)
    out = []
    for r in d.steps:
        start, end = _when(r.started_at), _when(r.finished_at)
        if start is None or r.step == CLOSE:
            continue
        length = (end - start).total_seconds() if end else 0.0
        out.append((label_of(r), r.status, (start - origin).total_seconds(), length))
    return out


def plot_steps(d: ReportData) -> str:
    """SVG: when each step of the night ran, and for how long."""
    rows = step_timings(d)
    fig = _figure(height=max(2.0, 0.22 * len(rows) + 0.8))
    ax = fig.add_subplot()
    if rows:
        names = [r[0] for r in rows][::-1]
        ax.barh(names, [max(r[3], 0.001) for r in rows][::-1], left=[r[2] for r in rows][::-1],
                color=["#4c78a8" if r[1] == "done" else "#e45756" for r in rows][::-1])
    _style(ax, "Steps of the night (seconds from the start of the close)")
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.8)
    ax.grid(axis="y", visible=False)
    return _svg(fig)
