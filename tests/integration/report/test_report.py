"""``creditcycle report``: the nightly HTML page, its figures, and a look through Chromium.

The stories and their figures are the examples' own (see examples/*.json):
never-pays has two loans (120,000 at 1,800 bp; 90,000 interest-free, both
from 2026-01-15) that nobody pays. Both are handed to agencies at DPD 91 on
2026-05-16, owing 129,198 and 90,000 fen, and written off at DPD 181 on
2026-08-14 (137,298 + 90,000 fen moved to the written-off accounts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from cli.main import main
from reports.nightly import find_chromium, gather, render_html, roll_rates, screenshot
from store import report as report_rows
from store.cycle_reads import label_of
from store.engine import make_engine
from tests.support.paths import ROOT
from workers.scenario import load_file, run_scenario

EXAMPLES = ROOT / "examples"
WRITE_OFF_DAY = date(2026, 8, 14)


@pytest.fixture(scope="module")
def never_pays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('never-pays')}/story.db"
    run_scenario(load_file(EXAMPLES / "never-pays.json"), database_url=url)
    engine = make_engine(url)
    yield engine, url
    engine.dispose()


@pytest.fixture(scope="module")
def page(never_pays: tuple[Engine, str]) -> str:
    return render_html(gather(never_pays[0], WRITE_OFF_DAY, days=200))


def test_the_page_is_self_contained_with_inline_svg_plots_and_no_outside_resources(
        page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    # seven plots, less the money chart: nobody in never-pays paid anything
    assert page.count("<svg") == 6
    assert "No collections in this window." in page
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?https?://""", page)
    assert "<link" not in page
    assert "<style>" in page


def test_the_page_has_every_section(page: str) -> None:
    for title in ("Money collected per source", "Loans per bucket", "Roll rates between buckets",
                  "handoffs and write-offs", "Score and limit changes by reason",
                  "Step durations of the night"):
        assert title in page


def test_the_write_off_night_counts_two_write_offs_and_lists_the_handoffs(page: str) -> None:
    assert re.search(r'<div class="v">2</div><div class="l">write-offs</div>', page)
    # 129,198 + 90,000 fen owed at the handoff; 137,298 + 90,000 written off
    assert "<td>2026-05-16</td><td>2</td><td>2,191.98</td>" in page
    assert "<td>2026-08-14</td><td>2</td><td>2,272.98</td>" in page


def test_score_and_limit_reasons_are_counted_over_the_window(page: str) -> None:
    for reason in ("OVERDUE_STARTED", "BUCKET_M2", "BUCKET_M3", "BUCKET_M3_PLUS", "WRITTEN_OFF"):
        assert f"<td>{reason}</td><td>2</td>" in page
    # two cuts each (02-16 and 03-17), both with LOW_ACTIVITY and SCORE_DOWN
    assert "<td>LOW_ACTIVITY</td><td>4</td><td>0</td>" in page
    assert "<td>SCORE_DOWN</td><td>4</td><td>0</td>" in page


def test_the_steps_of_the_night_are_timed(never_pays: tuple[Engine, str]) -> None:
    data = gather(never_pays[0], WRITE_OFF_DAY)
    names = [label_of(r) for r in data.steps]
    for step in ("deduct", "overdue", "score", "limit", "collect", "reconcile"):
        assert step in names
    page = render_html(data)
    assert "<td>collect</td><td>done</td>" in page


def test_month_end_buckets_follow_the_two_loans_down_the_buckets(
        never_pays: tuple[Engine, str]) -> None:
    data = gather(never_pays[0], WRITE_OFF_DAY, days=200)
    # DPD at month ends: 02-28 -> 14 (M1), 03-31 -> 45 (M2), 04-30 -> 75 (M3),
    # 05-31 -> 106, 06-30 -> 136, 07-31 -> 167 (M3+)
    snapshot = {(d, b): n for d, b, n in data.month_ends}
    assert snapshot[(date(2026, 2, 28), "M1")] == 2
    assert snapshot[(date(2026, 3, 31), "M2")] == 2
    assert snapshot[(date(2026, 4, 30), "M3")] == 2
    assert snapshot[(date(2026, 7, 31), "M3+")] == 2


def test_roll_rates_are_the_share_of_a_bucket_found_one_bucket_on_a_month_later(
        never_pays: tuple[Engine, str]) -> None:
    rates = dict(roll_rates(gather(never_pays[0], WRITE_OFF_DAY, days=200)))
    assert rates[date(2026, 3, 31)][("M1", "M2")] == 1.0
    assert rates[date(2026, 4, 30)][("M2", "M3")] == 1.0
    assert rates[date(2026, 5, 31)][("M3", "M3+")] == 1.0
    assert rates[date(2026, 6, 30)][("M3+", "written off")] == 0.0
    assert rates[date(2026, 3, 31)][("C", "M1")] is None  # no loan was current on 02-28


def test_daily_buckets_come_from_the_penalty_accruals(db_url: str) -> None:
    """late-after-grace: L1's first installment (due 02-15) is unpaid until 02-20.

    Days late 1..5 fall on 02-15..02-19, one accrual row each; on 02-20 it is paid.
    """
    run_scenario(load_file(EXAMPLES / "late-after-grace.json"), database_url=db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = report_rows.delinquent_by_day(conn, date(2026, 2, 14), date(2026, 2, 22),
                                                 [30, 60, 90])
    finally:
        engine.dispose()
    first = date(2026, 2, 15)
    assert rows == [(first + timedelta(days=i), "M1", 1) for i in range(5)]


def test_the_command_writes_the_page_for_the_last_closed_date_by_default(
        never_pays: tuple[Engine, str], tmp_path: Path) -> None:
    out = tmp_path / "night.html"
    result = CliRunner().invoke(main, ["report", "--out", str(out), "--database-url",
                                       never_pays[1]])
    assert result.exit_code == 0, result.output
    assert "night of 2026-08-31" in out.read_text(encoding="utf-8")
    bad = CliRunner().invoke(main, ["report", "--date", "2026-13-01", "--database-url",
                                    never_pays[1]])
    assert bad.exit_code == 2
    assert "--date" in bad.output


# ---------------------------------------------------------------- through Chromium
def test_chromium_renders_the_page_with_its_plots(page: str, tmp_path: Path) -> None:
    if find_chromium() is None:
        pytest.fail("chromium is not installed: run `make services` "
                    "(scripts/ensure-services.sh installs it)", pytrace=False)
    from PIL import Image

    html = tmp_path / "report.html"
    html.write_text(page, encoding="utf-8")
    png = screenshot(html, tmp_path / "report.png", width=1400, height=2400)
    assert png.exists()
    assert png.stat().st_size > 30_000
    with Image.open(png) as im:
        assert im.size == (1400, 2400)
        rgb = im.convert("RGB")
        header = rgb.getpixel((700, 10))
        body = rgb.getpixel((5, 1200))
        assert header != body  # the dark header band above the light page
        assert sum(header) < 200 < sum(body)
        colours = rgb.resize((350, 600)).getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 50  # text, bars, areas, lines
        # the plots' bucket colours are on the page: M1 yellow of the overdue chart
        assert any(_near(c, (0xee, 0xca, 0x3b)) for _, c in colours)


def _near(colour: tuple[int, int, int], target: tuple[int, int, int], tol: int = 24) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(colour, target, strict=True))
