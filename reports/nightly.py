"""``creditcycle report``: one self-contained HTML page about a business date.

Money collected per source, loans per bucket and the roll rates between
buckets, handoffs and write-offs, score and limit changes by reason, and the
durations of the night's steps. Everything is aggregated in SQL
(``store.queries``); the plots are SVG drawn by matplotlib and inlined, the
CSS is inline, so the file opens anywhere with no network.
"""

from __future__ import annotations

import html
import io
import itertools
import os
import shutil
import subprocess
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from domain.config import ProductConfig
from domain.money import yuan
from store import queries
from store.engine import Engine
from workers import settings

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


def gather(engine: Engine, day: date, days: int = 90,
           config: ProductConfig | None = None) -> ReportData:
    """Read what the page shows: ``day`` itself and the ``days`` before it."""
    config = config or ProductConfig()
    bounds = config.bucket_bounds
    first = day - timedelta(days=days - 1)
    with engine.connect() as conn:
        ends = queries.month_end_days(conn, day)[-MONTHS_SHOWN:]
        return ReportData(
            day=day, first=first,
            collected=queries.collected_by_day(conn, first, day),
            delinquent=queries.delinquent_by_day(conn, first, day, bounds),
            month_ends=queries.month_end_buckets(conn, ends, bounds),
            rolls=[(a, b, queries.month_transitions(conn, a, b, bounds))
                   for a, b in itertools.pairwise(ends)],
            handoffs=queries.handoffs_by_day(conn, first, day),
            write_offs=queries.write_offs_by_day(conn, first, day),
            scores=queries.score_reasons(conn, first, day),
            limit_changes=queries.limit_reasons(conn, first, day),
            steps=queries.step_runs(conn, day),
            chunks=queries.chunk_stats(conn, day),
            counts=queries.day_counts(conn, day),
            statuses=queries.loans_by_status(conn))


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
        if start is None or r.step == "close":
            continue
        length = (end - start).total_seconds() if end else 0.0
        out.append((r.step, r.status, (start - origin).total_seconds(), length))
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


# ---------------------------------------------------------------- the page
CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;
 margin:0;background:#f6f7f9;color:#222}
header{background:#1f2d3d;color:#fff;padding:20px 32px}
header h1{margin:0 0 4px;font-size:24px}
header p{margin:0;color:#c9d3de;font-size:14px}
main{padding:16px 32px 40px;max-width:1320px}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(215px,1fr));gap:12px;
 margin:12px 0 20px}
.kpi{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.kpi .v{font-size:22px;font-weight:600}
.kpi .l{font-size:12px;color:#666;text-transform:uppercase;letter-spacing:.04em}
.kpi.bad .v{color:#b3261e}
section{background:#fff;border-radius:8px;padding:14px 18px;margin:0 0 16px;
 box-shadow:0 1px 2px rgba(0,0,0,.08)}
section h2{font-size:17px;margin:0 0 8px}
section svg{width:100%;height:auto;display:block}
.two{display:grid;grid-template-columns:1fr 1fr;gap:16px;align-items:start}
table{border-collapse:collapse;font-size:13px;margin-top:8px}
th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#fafafa;font-weight:600}
.note{color:#666;font-size:12px;margin:4px 0 0}
.empty{color:#888;font-style:italic;padding:20px 0}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _kpi(label: str, value: str, bad: bool = False) -> str:
    cls = "kpi bad" if bad else "kpi"
    return (f'<div class="{cls}"><div class="v">{_e(value)}</div>'
            f'<div class="l">{_e(label)}</div></div>')


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, body: str, note: str = "") -> str:
    extra = f'<p class="note">{_e(note)}</p>' if note else ""
    return f"<section><h2>{_e(title)}</h2>{body}{extra}</section>"


def _two(left: str, right: str) -> str:
    return f'<div class="two"><div>{left}</div><div>{right}</div></div>'


def _or_empty(ok: bool, svg: Callable[[], str], what: str) -> str:
    return svg() if ok else f'<div class="empty">No {_e(what)} in this window.</div>'


def render_html(d: ReportData) -> str:
    """The report page as HTML."""
    today = {SOURCES[k]: v for x, k, v in d.collected if x == d.day}
    close = next((r for r in d.steps if r.step == "close"), None)
    status = close.status if close is not None else ("done" if d.steps else "not run")
    problem = close.problem if close is not None else None
    ledger_bad = bool(problem) or status == "ledger_broken"
    quarantined = sum(int(c.quarantined or 0) for c in d.chunks)
    c = d.counts
    kpis = [
        _kpi("collected on the day", f"{yuan(sum(today.values()))} yuan"),
        *[_kpi(f"from {name}", f"{yuan(today.get(name, 0))} yuan")
          for name in ("wallet", "card", "fund") if name in today],
        _kpi("loans became overdue", str(c.get("overdue_started", 0)),
             bad=c.get("overdue_started", 0) > 0),
        _kpi("loans cleared", str(c.get("overdue_cleared", 0))),
        _kpi("agency handoffs", str(c.get("handoffs", 0))),
        _kpi("write-offs", str(c.get("write_offs", 0)), bad=c.get("write_offs", 0) > 0),
        _kpi("score changes", str(c.get("score_events", 0))),
        _kpi("limit changes", str(c.get("limit_events", 0))),
        _kpi("quarantined chunks", str(quarantined), bad=quarantined > 0),
        _kpi("held users", str(c.get("held_users", 0)), bad=c.get("held_users", 0) > 0),
        _kpi("ledger proof", "FAILED" if ledger_bad else "holds", bad=ledger_bad),
    ]
    score, cuts, raises = reason_counts(d)
    rates = roll_rates(d)
    matrix = ""
    if d.rolls:
        before, after, rows = d.rolls[-1]
        grid = {(a, b): n for a, b, n in rows}
        frm = [b for b in SNAPSHOT if any(grid.get((b, x), 0) for x in SNAPSHOT)]
        matrix = (f'<p class="note">Loans by bucket on {before} (rows) and on {after} '
                  f"(columns):</p>" + _table(
                      ["from \\ to", *SNAPSHOT],
                      [[a, *[grid.get((a, b), 0) for b in SNAPSHOT]] for a in frm]))
    step_rows = []
    stats = {r.step: r for r in d.chunks}
    for name, st, offset, length in step_timings(d):
        k = stats.get(name)
        step_rows.append([name, st, f"{offset:.2f}", f"{length:.2f}",
                          k.chunks if k else "", k.rows if k else "",
                          k.attempts if k else "", k.quarantined if k else ""])
    collect_rows = [[str(x), n, f"{yuan(v)}"] for x, n, v in d.handoffs[-10:]]
    wo_rows = [[str(x), n, f"{yuan(v)}"] for x, n, v in d.write_offs[-10:]]
    body = [
        f'<section class="kpis" style="background:none;box-shadow:none;padding:0">'
        f'{"".join(kpis)}</section>',
        _section("Money collected per source",
                 _or_empty(bool(d.collected), lambda: plot_collected(d), "collections"),
                 "Automatic deductions by source (wallet, savings card, money-market fund), "
                 "repayments from outside and recoveries on written-off loans."),
        _section("Loans per bucket",
                 _two(_or_empty(bool(d.delinquent), lambda: plot_delinquent(d), "overdue loans"),
                      _or_empty(bool(d.month_ends), lambda: plot_month_ends(d),
                                "monthly bureau files")),
                 "Daily counts come from the penalty accrual rows (a loan overdue on a day "
                 "has one); month ends from the monthly bureau file. Loans by status now: "
                 + ", ".join(f"{k} {v:,}" for k, v in sorted(d.statuses.items())) + "."),
        _section("Roll rates between buckets; handoffs and write-offs",
                 _two(_or_empty(bool(rates), lambda: plot_rolls(d), "pairs of month ends") + matrix,
                      _or_empty(bool(d.handoffs or d.write_offs), lambda: plot_collection(d),
                                "handoffs or write-offs")
                      + _two(_table(["handoff day", "loans", "owed (yuan)"], collect_rows),
                             _table(["write-off day", "loans", "amount (yuan)"], wo_rows)))),
        _section("Score and limit changes by reason",
                 _or_empty(bool(score or cuts or raises), lambda: plot_reasons(d), "changes")
                 + _two(_table(["score reason", "events in window"], score.most_common()),
                        _table(["limit reason code", "cuts", "raises"],
                               [[k, cuts[k], raises[k]]
                                for k in sorted(set(cuts) | set(raises))]))),
        _section("Step durations of the night",
                 _or_empty(bool(step_rows), lambda: plot_steps(d), "steps")
                 + _table(["step", "status", "start (s)", "duration (s)", "chunks", "rows",
                           "attempts", "quarantined"], step_rows),
                 (close.detail or "") if close is not None else ""),
    ]
    if ledger_bad:
        body.insert(0, _section("The ledger proof FAILED: this date is not closed",
                                f"<p>{_e(problem or '')}</p>",
                                "The catch-up stops here. Fix the data, then run "
                                f"creditcycle cycle recheck --date {d.day.isoformat()}."))
    title = f"creditcycle · night of {d.day.isoformat()}"
    sub = (f"Close of business: {status}"
           + ("; ledger check FAILED" if ledger_bad else "")
           + f" · window {d.first.isoformat()} to {d.day.isoformat()}"
           + f" · generated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{_e(title)}</h1><p>{_e(sub)}</p></header>"
            f"<main>{''.join(body)}</main></body></html>\n")


def report(engine: Engine, day: date, days: int = 90,
           config: ProductConfig | None = None) -> str:
    """The report of ``day`` over the ``days`` before it, as HTML."""
    return render_html(gather(engine, day, days, config))


# ---------------------------------------------------------------- screenshots
def find_chromium() -> str | None:
    """A Chromium to screenshot with: $CREDITCYCLE_CHROMIUM, else one on the PATH."""
    chromium = settings.get().chromium
    configured = str(chromium) if chromium else None
    if configured and os.access(configured, os.X_OK):
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(page: Path, png: Path, *, width: int = 1400, height: int = 2400,
               timeout: float = 120) -> Path:
    """Render ``page`` in headless Chromium into ``png`` (no network, throwaway profile)."""
    browser = find_chromium()
    if browser is None:
        raise FileNotFoundError("chromium not found: run scripts/ensure-services.sh")
    with tempfile.TemporaryDirectory(prefix="creditcycle-chromium-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--hide-scrollbars",
               f"--user-data-dir={profile}", f"--screenshot={png}",
               f"--window-size={width},{height}", page.resolve().as_uri()]
        # S603: the local browser, with arguments built here
        subprocess.run(cmd, check=True, timeout=timeout, capture_output=True,  # noqa: S603
                       env={**os.environ, "HOME": profile})
    return png
