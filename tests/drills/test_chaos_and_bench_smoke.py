"""Short versions of `make chaos` and `make bench`: they must work; no timing is asserted."""

from __future__ import annotations

import json
import re
from pathlib import Path

from drills.bench import bench, summary_line
from drills.chaos import run_chaos


def test_a_short_chaos_run_takes_nothing_twice_loses_nothing_and_matches_the_clean_run(
        tmp_path: Path) -> None:
    outcome = run_chaos(users=1500, days=6, kills=8, pg_down_s=4, chunk_size=300,
                        workdir=tmp_path, say=lambda _: None)
    assert outcome.harm.kills >= 1
    assert outcome.harm.redis_restarts == 1 and outcome.harm.postgres_stops == 1
    assert outcome.quarantined >= 1, "the poison chunk was not quarantined"
    assert outcome.released, "the held users were not released"
    assert outcome.double_takes == 0
    assert outcome.lost == 0
    assert outcome.imbalances == 0, outcome.problems
    assert outcome.mismatches == 0, outcome.problems
    assert re.fullmatch(r"chaos: kills=\d+ redeliveries=\d+ duplicates=\d+ double_takes=0 "
                        r"lost=0 imbalances=0 mismatches=0 quarantined=\d+", outcome.line())


def test_a_small_benchmark_runs_end_to_end_and_writes_its_results(tmp_path: Path) -> None:
    runs = bench(20_000, scaling=False, out_dir=tmp_path, chunk_size=5000)
    main = runs[0]
    assert main.wall_s > 0 and main.floor_s > 0 and main.captured_rows > 0
    assert {f.step for f in main.steps} >= {"deduct", "overdue", "score", "limit", "collect"}
    results = json.loads((tmp_path / "bench.json").read_text())
    assert results["runs"][0]["users"] == 20_000
    assert (tmp_path / "bench.png").stat().st_size > 10_000
    assert re.fullmatch(r"bench: users=20000 wall_s=[\d.]+ floor_s=[\d.]+ ratio=[\d.]+ "
                        r"peak_rss_mb=\d+ events=\d+ events_per_s=\d+", summary_line(main))
    assert main.events > 6_000  # 30% active, 2% signals, 5% top-ups: all recorded
