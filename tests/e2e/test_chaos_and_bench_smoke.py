"""Short versions of `make chaos` and `make bench`: they must work; no timing is asserted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from drills.bench import bench, summary_line
from drills.chaos import run_chaos

pytestmark = pytest.mark.drills


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
    # the bank over HTTP met faults and a restart; reconcile resolved every pending debit
    # and the bank's own ledger is the card journals, key by key
    assert outcome.harm.bank_restarts == 1
    assert outcome.bank.faults >= 1
    assert outcome.bank.pending_resolved >= 1
    assert outcome.bank.still_pending == 0
    assert outcome.bank.ledger_mismatches == 0, outcome.bank.problems
    assert outcome.bank.booked_not_taken == outcome.bank.taken_not_booked == 0
    assert outcome.relays is not None and outcome.relays.problems == []
    assert outcome.relays.sink_failures >= 1, "the sink was never down nor slow for a relay"
    # the platform recorded events through Celery all night, some batches twice: each
    # recorded once, its effect once, and the clean run (the same events at the same
    # places) compared equal above
    assert outcome.events is not None and outcome.events.problems == []
    assert outcome.events.events >= 50 and outcome.events.sent_twice >= 1
    assert outcome.events.lost == outcome.events.doubled == 0
    assert re.fullmatch(r"chaos: kills=\d+ redeliveries=\d+ duplicates=\d+ double_takes=0 "
                        r"lost=0 imbalances=0 mismatches=0 quarantined=\d+ bank_faults=\d+ "
                        r"pending_resolved=\d+ sink_failures=\d+ delivered_twice_new_key=0 "
                        r"sent_outside_window=0 events=\d+ events_lost=0 events_doubled=0",
                        outcome.line())


def test_a_small_benchmark_runs_end_to_end_and_writes_its_results(tmp_path: Path) -> None:
    runs = bench(20_000, scaling=False, out_dir=tmp_path, chunk_size=5000)
    main = runs[0]
    assert main.wall_s > 0 and main.floor_s > 0 and main.captured_rows > 0
    assert {f.step for f in main.steps} >= {"deduct", "overdue", "score", "limit", "collect"}
    results = json.loads((tmp_path / "bench.json").read_text())
    assert results["runs"][0]["users"] == 20_000
    assert results["runs"][0]["profile"] is None and not list(tmp_path.glob("profile-*"))
    assert (tmp_path / "bench.png").stat().st_size > 10_000
    assert re.fullmatch(r"bench: users=20000 wall_s=[\d.]+ floor_s=[\d.]+ ratio=[\d.]+ "
                        r"peak_rss_mb=\d+ events=\d+ events_per_s=\d+", summary_line(main))
    assert main.events > 6_000  # 30% active, 2% signals, 5% top-ups: all recorded
