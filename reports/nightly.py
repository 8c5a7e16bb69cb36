"""``creditcycle report``: one self-contained HTML page about a business date.

Money collected per source, loans per bucket and the roll rates between
buckets, handoffs and write-offs, score and limit changes by reason, and the
durations of the night's steps. Everything is aggregated in SQL
(``store.report``); the plots are SVG drawn by matplotlib and inlined, the
CSS is inline, so the file opens anywhere with no network.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from domain.config import ProductConfig
from domain.money import yuan
from domain.steps import CLOSE
from reports.nightly_data import SNAPSHOT, SOURCES, ReportData, gather
from reports.nightly_plots import (
    plot_collected,
    plot_collection,
    plot_delinquent,
    plot_month_ends,
    plot_reasons,
    plot_rolls,
    plot_steps,
    reason_counts,
    roll_rates,
    step_timings,
)
from store.cycle_reads import label_of
from store.engine import Engine
from workers import settings

# gather and roll_rates are named here too: the page's module is the report's API.
__all__ = ["CSS", "ReportData", "find_chromium", "gather", "render_html", "report",
           "roll_rates", "screenshot"]

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
    close = next((r for r in d.steps if r.step == CLOSE), None)
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
        _kpi("outbox rows dead", str(dead := sum(o.dead for o in d.outboxes)), bad=dead > 0),
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
    stats = {label_of(r): r for r in d.chunks}
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
        _section("Outboxes: reminders, agency files, the bureau feed",
                 _table(["outbox", "pending", "delivered", "dead", "expired",
                         "copies dropped", "last error"],
                        [[o.outbox, o.pending, o.delivered, o.dead, o.expired, o.copies,
                          o.last_error or ""] for o in d.outboxes]),
                 "Rows the relays deliver to the sinks (SPEC 14). A dead row failed "
                 "outbox_max_attempts times or was refused; it waits for "
                 "creditcycle outbox retry."),
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
