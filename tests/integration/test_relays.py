"""The relays (SPEC 14): outbox rows reach their sinks exactly once in effect.

Real parts only: SQLite and PostgreSQL, the reference receiver as its own process for
https (down, slow), the file sink, the `creditcycle outbox` commands as child
processes, a relay killed by the fault hook right after the sink answered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from adapters.bank_http import Timeouts
from adapters.sink_receiver import ReceiverAdmin, ReceiverProcess
from adapters.sinks import batch_path, sink_for
from domain import outbox as ob
from domain.outbox import Sink
from store import outboxes
from store import schema as s
from tests.support.helpers import migrated_engine
from tests.support.outbox import ALPHA, T0, D, add_case, add_handoffs, add_reminders
from tests.support.paths import ROOT
from workers import relays

SECRET = "relay-sink-secret"
BETA = "Beta Collect"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = migrated_engine(db_url)
    yield e
    e.dispose()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverProcess]:
    proc = ReceiverProcess(str(tmp_path / "received"), SECRET).start()
    yield proc
    proc.stop()


@pytest.fixture
def admin(receiver: ReceiverProcess) -> Iterator[ReceiverAdmin]:
    a = ReceiverAdmin(receiver.url, SECRET)
    yield a
    a.close()


@pytest.fixture
def https(receiver: ReceiverProcess) -> Iterator[Sink]:
    sink = sink_for(receiver.url + "/agencies", SECRET, timeouts=Timeouts(connect=1, read=2))
    yield sink
    sink.close()


def run(engine: Engine, relay: ob.RelayName, sink: Sink, *, at: datetime = T0,
        now: datetime | None = None, max_attempts: int = 10) -> relays.RelayResult:
    """One relay run, the host clock at ``at`` and the business clock at ``now``."""
    return relays.run(engine, relay, sink, business_now=lambda: now or at,
                      max_attempts=max_attempts, clock=lambda: at)


def batches(engine: Engine) -> list[Any]:
    b = s.outbox_batches.c
    with engine.connect() as conn:
        return list(conn.execute(select(b.key, b.outbox, b.day, b.rows, b.status, b.attempts,
                                        b.copies, b.next_attempt_at).order_by(b.key)))


def keys_of_rows(engine: Engine) -> dict[str, str | None]:
    h, c = s.handoffs.c, s.collection_cases.c
    with engine.connect() as conn:
        keys = {f"h:{r.loan_id}": r.out_key for r in conn.execute(select(h.loan_id, h.out_key))}
        keys |= {f"c:{r.loan_id}": r.notice_key
                 for r in conn.execute(select(c.loan_id, c.notice_key))}
    return keys


def received(receiver: ReceiverProcess) -> list[dict[str, Any]]:
    """Every batch the receiver stored, as JSON."""
    return [json.loads(p.read_bytes()) for p in sorted(Path(receiver.root).rglob("*.json"))]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, text=True, timeout=120, check=False)


def sink_env(db_url: str, receiver: ReceiverProcess, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": db_url, "CREDITCYCLE_SINK_AGENCIES": receiver.url + "/agencies",
            "CREDITCYCLE_SINK_SECRET": SECRET, "CREDITCYCLE_LOG_FORMAT": "text", **extra}


# ---------------------------------------------------------------------- once
def test_each_agency_batch_is_delivered_once_per_agency_and_date_and_never_again(
        engine: Engine, https: Sink, admin: ReceiverAdmin, receiver: ReceiverProcess) -> None:
    add_handoffs(engine, ALPHA, D, ["L1", "L2"])
    add_handoffs(engine, BETA, D, ["L3"])
    add_handoffs(engine, ALPHA, D + timedelta(days=1), ["L4"])
    first = run(engine, "agencies", https)
    assert (first.formed, first.batches, first.delivered, first.failures) == (3, 3, 4, 0)
    again = run(engine, "agencies", https, at=T0 + timedelta(hours=1))
    assert (again.formed, again.batches, again.delivered) == (0, 0, 0)
    assert admin.stats()["accepted"] == 3 and admin.stats()["duplicates"] == 0
    got = {(b["outbox"], b["business_date"]): [r["loan"] for r in b["rows"]]
           for b in received(receiver)}
    assert got == {(f"agency:{ALPHA}", "2026-05-16"): ["L1", "L2"],
                   (f"agency:{BETA}", "2026-05-16"): ["L3"],
                   (f"agency:{ALPHA}", "2026-05-17"): ["L4"]}
    assert [b.status for b in batches(engine)] == ["delivered"] * 3
    assert all(k is not None for k in keys_of_rows(engine).values())


def test_recall_and_written_off_records_reach_the_agency_of_the_case_and_nobody_else(
        engine: Engine, https: Sink, receiver: ReceiverProcess) -> None:
    add_handoffs(engine, ALPHA, D, ["L1"])
    add_case(engine, "L1", ALPHA, "recalled", D)  # the loan cleared: stop collecting
    add_case(engine, "L2", BETA, "written_off", D)
    add_case(engine, "L3", None, "escalated", D, stage="internal")  # no agency to tell
    add_case(engine, "L4", None, "recalled", D)  # its handoff waited for an agency
    result = run(engine, "agencies", https)
    assert result.delivered == 3
    got = {b["outbox"]: [(r["kind"], r["loan"], r["day"]) for r in b["rows"]]
           for b in received(receiver)}
    assert got == {f"agency:{ALPHA}": [("handoff", "L1", "2026-05-16"),
                                       ("recall", "L1", "2026-05-16")],
                   f"agency:{BETA}": [("written_off", "L2", "2026-05-16")]}
    assert keys_of_rows(engine)["c:L3"] is None and keys_of_rows(engine)["c:L4"] is None


def test_the_monthly_bureau_file_is_one_batch_per_month_and_other_records_go_apart(
        engine: Engine, tmp_path: Path) -> None:
    month_end = date(2026, 5, 31)
    with engine.begin() as conn:
        conn.execute(insert(s.bureau_records), [
            {"day": month_end, "user_id": f"u{i}", "loan_id": f"L{i:04d}", "kind": "MONTHLY",
             "status": "active", "dpd": 0} for i in range(ob.BATCH_ROWS + 20)] + [
            {"day": D, "user_id": "u1", "loan_id": "L0001", "kind": "OVERDUE_STARTED",
             "status": "overdue", "dpd": 1}])
    sink = sink_for(f"file://{tmp_path / 'out'}", None)
    result = run(engine, "bureau", sink)
    assert (result.formed, result.delivered) == (2, ob.BATCH_ROWS + 21)
    monthly = list((tmp_path / "out" / "bureau_file").glob("*.json"))
    assert len(monthly) == 1
    body = json.loads(monthly[0].read_bytes())
    assert (body["business_date"], body["count"]) == ("2026-05-31", ob.BATCH_ROWS + 20)
    assert len(list((tmp_path / "out" / "bureau").glob("*.json"))) == 1


# ---------------------------------------------------------------------- killed
def test_a_relay_killed_after_the_sink_answered_resends_the_same_key_and_the_sink_drops_it(
        engine: Engine, db_url: str, https: Sink, admin: ReceiverAdmin,
        receiver: ReceiverProcess) -> None:
    add_handoffs(engine, ALPHA, D, ["L1", "L2"])
    killed = cli("outbox", "deliver", "--relay", "agencies",
                 env=sink_env(db_url, receiver, CREDITCYCLE_FAULT="relay:agencies:acked"))
    assert killed.returncode == 137, killed.stderr
    (before,) = batches(engine)
    assert (before.status, before.attempts) == ("pending", 1)  # the answer was never recorded
    assert admin.stats()["accepted"] == 1
    keys = keys_of_rows(engine)
    # Until the lease ends nobody sends it again; then the next relay does, same key.
    assert run(engine, "agencies", https, at=datetime.now(UTC)).batches == 0
    later = datetime.now(UTC) + ob.LEASE + timedelta(seconds=1)
    result = run(engine, "agencies", https, at=later)
    assert (result.delivered, result.copies) == (2, 1)
    (after,) = batches(engine)
    assert (after.key, after.status, after.attempts, after.copies) == (
        before.key, "delivered", 2, 1)
    assert keys_of_rows(engine) == keys
    stats = admin.stats()
    assert (stats["accepted"], stats["duplicates"], stats["conflicts"]) == (1, 1, 0)
    assert [b["key"] for b in received(receiver)] == [before.key]


# ---------------------------------------------------------------------- failures
def test_a_sink_that_is_down_is_retried_with_backoff_then_dead_then_retried_by_an_operator(
        engine: Engine, db_url: str, https: Sink, admin: ReceiverAdmin,
        receiver: ReceiverProcess) -> None:
    add_handoffs(engine, ALPHA, D, ["L1", "L2"])
    admin.set_mode(down_for=3600)
    assert run(engine, "agencies", https, max_attempts=3).failures == 1
    (b,) = batches(engine)
    assert (b.attempts, b.next_attempt_at) == (1, T0 + ob.backoff(1))
    assert run(engine, "agencies", https, at=T0 + ob.backoff(1) / 2,
               max_attempts=3).batches == 0  # the backoff is kept
    second = T0 + ob.backoff(1)
    assert run(engine, "agencies", https, at=second, max_attempts=3).failures == 1
    assert batches(engine)[0].next_attempt_at == second + ob.backoff(2)
    third = run(engine, "agencies", https, at=second + ob.backoff(2), max_attempts=3)
    assert (third.failures, third.dead) == (1, 2)
    (b,) = batches(engine)
    assert (b.status, b.attempts) == ("dead", 3)
    assert run(engine, "agencies", https, at=T0 + timedelta(days=1)).batches == 0
    assert admin.stats()["accepted"] == 0
    with engine.connect() as conn:
        assert outboxes.undelivered_agency_records(conn) == (2, 0)

    env = sink_env(db_url, receiver)
    status = cli("outbox", "status", env=env)
    assert status.returncode == 1, status.stderr
    assert f"agency:{ALPHA}: pending 0 (waiting 0), delivered 0, dead 2" in status.stdout
    assert "HTTP 503" in status.stdout
    refused = cli("outbox", "retry", "--outbox", "ftp", env=env)
    assert refused.returncode == 2 and "--outbox" in refused.stderr
    retried = cli("outbox", "retry", "--outbox", "agencies", env=env)
    assert retried.returncode == 0 and "re-queued 1 dead batch(es), 2 row(s)" in retried.stdout

    admin.set_mode(down_for=0)
    result = run(engine, "agencies", https, at=datetime.now(UTC) + timedelta(seconds=1))
    assert result.delivered == 2
    (after,) = batches(engine)
    assert (after.key, after.status) == (b.key, "delivered")
    assert [x["key"] for x in received(receiver)] == [b.key]
    assert cli("outbox", "status", env=env).returncode == 0
    with engine.connect() as conn:
        assert outboxes.undelivered_agency_records(conn) == (0, 0)
        assert outboxes.pending_batches(conn) == 0


def test_a_sink_that_refuses_a_batch_makes_it_dead_at_once(
        engine: Engine, receiver: ReceiverProcess) -> None:
    add_handoffs(engine, ALPHA, D, ["L1"])
    wrong = sink_for(receiver.url + "/agencies", "not-the-receivers-secret")
    result = run(engine, "agencies", wrong)
    wrong.close()
    assert (result.failures, result.dead) == (1, 1)
    assert batches(engine)[0].status == "dead"


def test_a_reminder_whose_window_passes_while_the_sink_is_down_expires_and_is_never_sent(
        engine: Engine, admin: ReceiverAdmin, receiver: ReceiverProcess) -> None:
    start, end = T0, T0 + timedelta(hours=13)
    add_reminders(engine, ["L1", "L2"], start, end)
    sink = sink_for(receiver.url + "/notifications", SECRET, timeouts=Timeouts(1, 2))
    assert run(engine, "notifications", sink, now=start - timedelta(minutes=1)).formed == 0
    admin.set_mode(down_for=3600)
    late = end - timedelta(minutes=5)
    assert run(engine, "notifications", sink, at=T0, now=late).failures == 1
    admin.set_mode(down_for=0)
    result = run(engine, "notifications", sink, at=T0 + timedelta(hours=1), now=end)
    assert (result.delivered, result.expired) == (0, 2)
    assert [b.status for b in batches(engine)] == ["expired"]
    n = s.notifications.c
    with engine.connect() as conn:
        assert set(conn.execute(select(n.status)).scalars()) == {"expired"}
        assert outboxes.unsettled_reminders(conn, end) == 0
    assert admin.stats()["accepted"] == 0 and received(receiver) == []
    sink.close()


# ---------------------------------------------------------------------- concurrency
def test_two_relays_at_once_on_postgresql_never_send_a_batch_twice(
        fresh_postgres_url: str, admin: ReceiverAdmin, receiver: ReceiverProcess) -> None:
    engine = migrated_engine(fresh_postgres_url)
    try:
        days = 24
        for i in range(days):
            add_handoffs(engine, ALPHA, D + timedelta(days=i), [f"L{i:03d}a", f"L{i:03d}b"])
        # a slow sink (24 x 0.4 s): the second relay's start (seconds on a loaded
        # machine) comes while the first is still delivering
        admin.set_mode(slow_ms=400)
        env = sink_env(fresh_postgres_url, receiver)
        procs = [subprocess.Popen(
            [sys.executable, "-m", "cli.main", "outbox", "deliver", "--relay", "agencies"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        done = [json.loads(o[0].splitlines()[-1]) for o in outs]
        assert sum(d["batches"] for d in done) == days
        assert all(d["batches"] > 0 for d in done)  # both relays took part
        stats = admin.stats()
        assert (stats["accepted"], stats["duplicates"], stats["conflicts"]) == (days, 0, 0)
        b = s.outbox_batches.c
        with engine.connect() as conn:
            assert conn.execute(select(b.status, func.count(), func.sum(b.attempts))
                                .group_by(b.status)).all() == [("delivered", days, days)]
        assert all(batch_path(Path(receiver.root), x["outbox"], x["key"]).exists()
                   for x in received(receiver))
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- never hidden
def test_dead_rows_of_a_real_night_show_in_the_nightly_report_and_recover_after_retry(
        tmp_path: Path) -> None:
    from reports.nightly import gather, render_html
    from workers.scenario import load_file, run_scenario

    url = f"sqlite:///{tmp_path}/never-pays.db"
    run_scenario(load_file(ROOT / "examples" / "never-pays.json"), database_url=url)
    engine = migrated_engine(url)
    try:
        (tmp_path / "out").write_text("a file where the sink's directory should be")
        broken = sink_for(f"file://{tmp_path / 'out' / 'x'}", None)
        result = run(engine, "agencies", broken, max_attempts=1)
        assert result.dead == 4  # two handoffs (2026-05-16), two written_off (2026-08-14)
        page = render_html(gather(engine, date(2026, 8, 14), days=200))
        assert '<div class="kpi bad"><div class="v">4</div><div class="l">outbox rows dead' \
            in page
        assert "Outboxes: reminders, agency files, the bureau feed" in page
        with engine.begin() as conn:
            assert outboxes.retry_dead(conn, T0) == (result.batches, 4)
        good = sink_for(f"file://{tmp_path / 'good'}", None)
        assert run(engine, "agencies", good).delivered == 4
        kinds = sorted(r["kind"] for p in (tmp_path / "good").rglob("*.json")
                       for r in json.loads(p.read_bytes())["rows"])
        assert kinds == ["handoff", "handoff", "written_off", "written_off"]
        page = render_html(gather(engine, date(2026, 8, 14), days=200))
        assert '<div class="kpi"><div class="v">0</div><div class="l">outbox rows dead' in page
    finally:
        engine.dispose()


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of series ``name{labels}`` in a Prometheus text page."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        metric, _, value = line.rpartition(" ")
        head, _, rest = metric.partition("{")
        if not line.startswith("#") and head == name and rest.rstrip("}") == want:
            return float(value)
    return None


METRICS = """
import json, sys
from datetime import datetime, UTC
from adapters.sinks import sink_for
from store.engine import make_engine
from workers import relays
engine = make_engine(sys.argv[1])
at = datetime(2026, 5, 17, 1, 0, tzinfo=UTC)
ok, broken = sink_for("file://" + sys.argv[2], None), sink_for("file://" + sys.argv[3], None)
relay = "agencies"
r = relays.run(engine, relay, broken if sys.argv[4] == "broken" else ok,
               business_now=lambda: at, max_attempts=1, clock=lambda: at)
print(json.dumps(r.as_dict()))
from prometheus_client import generate_latest
from workers import metrics
print(generate_latest(metrics.registry()).decode())
"""


def test_metrics_count_deliveries_failures_and_the_dead_rows(
        sqlite_url: str, tmp_path: Path) -> None:
    engine = migrated_engine(sqlite_url)
    add_handoffs(engine, ALPHA, D, ["L1", "L2"])
    add_handoffs(engine, BETA, D, ["L3"])
    engine.dispose()
    (tmp_path / "file").write_text("not a directory")
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}

    def relay(which: str) -> str:
        done = subprocess.run([sys.executable, "-c", METRICS, sqlite_url, str(tmp_path / "ok"),
                               str(tmp_path / "file" / "x"), which], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    text = relay("broken")  # both batches fail once, with max_attempts 1: dead
    assert _sample(text, "creditcycle_outbox_delivery_failures_total", relay="agencies") == 2
    assert _sample(text, "creditcycle_outbox_dead_rows", relay="agencies") == 3
    engine = migrated_engine(sqlite_url)
    with engine.begin() as conn:
        outboxes.retry_dead(conn, T0)
    engine.dispose()
    text = relay("ok")
    assert _sample(text, "creditcycle_outbox_delivered_rows_total", relay="agencies") == 3
    assert _sample(text, "creditcycle_outbox_dead_rows", relay="agencies") == 0
