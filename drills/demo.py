"""``make demo``: a portfolio closed over months of business dates by real workers."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select

from adapters.sinks import outbox_dir
from cli import api
from domain import collection
from domain import outbox as ob
from domain.config import ProductConfig
from domain.money import yuan
from drills.seed import seed_portfolio
from drills.stack import Stack, local_stack
from schedules import business_date
from store import ledger_checks, outboxes
from store import schema as s
from store.cycle import mark_closed_before
from store.engine import make_engine, migrate
from workers.progress import WaitError, wait_for

console = Console()
DEMO_DIR = Path(".demo")


def run_demo(users: int, days: int, concurrency: int, chunk_size: int = 5000) -> None:
    """Seed ``users`` users and run ``days`` nights on a local Celery stack, then summarise."""
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir()
    url = f"sqlite:///{DEMO_DIR.resolve()}/creditcycle-demo.db"
    config = ProductConfig(chunk_size=chunk_size)
    last = business_date.now(config.time_zone).date() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    # One fixed clock for the demo's workers and relays: an hour into the send window of
    # the last night's reminders (earlier nights' windows have passed: theirs expire).
    clock = collection.reminder_window(last, config)[0] + timedelta(hours=1)
    console.print(f"[bold]creditcycle demo[/]: {users:,} users, business dates {first} .. {last}")
    migrate(url)
    engine = make_engine(url)
    t = time.monotonic()
    seed_portfolio(engine, users, first, config=config)
    mark_closed_before(engine, first)
    console.print(f"seeded in {time.monotonic() - t:.1f}s; starting Redis and "
                  f"{concurrency} worker processes")
    out = (DEMO_DIR / "outbox").resolve()
    env = {"CREDITCYCLE_CHUNK_SIZE": str(chunk_size),
           business_date.CLOCK_VARIABLE: clock.isoformat(),
           # the workers' relays deliver every outbox into one folder (file:// sinks)
           **dict.fromkeys(SINK_VARIABLES, f"file://{out}")}
    with local_stack(url, extra_env=env, bank_dir=DEMO_DIR) as st:
        if st.bank is not None:
            console.print(f"bank simulator at {st.bank.url} (its ledger: "
                          f"{DEMO_DIR}/bank-sim.sqlite)")
        st.start_worker(concurrency, log=DEMO_DIR / "worker.log")
        t = time.monotonic()
        api.submit("creditcycle.cycle.run", date=last.isoformat())
        try:
            wait_for(engine, last, first, timeout=3600, config=config)
        except WaitError as exc:
            raise SystemExit(f"the demo stopped: {exc}; see .demo/worker.log") from None
        wall = time.monotonic() - t
        bank_line = bank_summary(engine, st)
        t = time.monotonic()
        try:
            sent = relay_on_workers(engine)
        except WaitError as exc:
            raise SystemExit(f"the demo stopped: {exc}; see .demo/worker.log and "
                             "`creditcycle outbox status`") from None
        relay_wall = time.monotonic() - t
    summary(engine, wall, days)
    console.print(bank_line)
    print_outboxes(engine, out, sent, relay_wall)


def bank_summary(engine: Engine, st: Stack) -> str:
    """The bank's own ledger against creditcycle's card journals, one line."""
    if st.bank is None:
        return "bank: the deployment's (CREDITCYCLE_BANK_URL), not compared"
    admin = st.bank_admin()
    try:
        ledger = admin.ledger()
    finally:
        admin.close()
    taken = sum(int(d["taken"]) for d in ledger)
    j = s.journals.c
    with engine.connect() as conn:
        booked = int(conn.execute(select(func.coalesce(func.sum(j.amount), 0))
                                  .where(j.kind == "deduct_card")).scalar_one())
    same = "[green]equal to[/]" if taken == booked else "[red]NOT equal to[/]"
    return (f"bank over HTTP: {len(ledger):,} debits, {yuan(taken)} taken, {same} the card "
            f"journals ({yuan(booked)})")


#: The workers' sink of each relay (workers/settings.py).
SINK_VARIABLES: Final = ("CREDITCYCLE_SINK_NOTIFICATIONS", "CREDITCYCLE_SINK_AGENCIES",
                         "CREDITCYCLE_SINK_BUREAU")
RELAY_WAIT_S: Final = 900.0   # the whole delivery; a stuck relay ends the demo, named
ROUND_QUIET_S: Final = 5.0    # no progress this long: the round's tasks ended, send again


def _pending(engine: Engine) -> dict[ob.RelayName, int]:
    """Rows still to deliver (or expire), per relay."""
    with engine.connect() as conn:
        counts = outboxes.status(conn)
    left: dict[ob.RelayName, int] = {}
    for c in counts:
        if c.pending:
            name = ob.relay_of(c.outbox)
            left[name] = left.get(name, 0) + c.pending
    return left


def relay_on_workers(engine: Engine, *, timeout: float = RELAY_WAIT_S) -> int:
    """Deliver the night's outboxes through the relays on the workers (their tasks, as beat
    sends them every minute), until no row is pending; returns the relay tasks sent.

    A relay run stops after its time budget, so a round of tasks may leave rows: when the
    count stops moving, the relays still owing rows are sent again. Past ``timeout`` the
    rows left are named (``WaitError``)."""
    deadline = time.monotonic() + timeout
    sent, left = 0, _pending(engine)
    while left:
        for name in left:
            api.submit(f"creditcycle.relay.{name}")
            sent += 1
        quiet_since, before = time.monotonic(), left
        while left and time.monotonic() - quiet_since < ROUND_QUIET_S:
            if time.monotonic() > deadline:
                raise WaitError(f"outbox rows still pending after {timeout:.0f}s: "
                                + ", ".join(f"{k} {v:,}" for k, v in sorted(left.items())))
            time.sleep(0.5)
            left = _pending(engine)
            if left != before:
                quiet_since, before = time.monotonic(), left
    return sent


def print_outboxes(engine: Engine, out: Path, sent: int, wall: float) -> None:
    """What the workers' relays delivered into ``out``, per outbox."""
    with engine.connect() as conn:
        counts = outboxes.status(conn)
    o = Table(title=f"outboxes delivered into {out} by the workers' relays",
              title_justify="left")
    for col in ("outbox", "rows delivered", "files", "expired", "pending", "dead"):
        o.add_column(col, justify="left" if col == "outbox" else "right")
    for c in counts:
        files = len(list((out / outbox_dir(c.outbox)).glob("*.json")))
        o.add_row(c.outbox, f"{c.delivered:,}", f"{files:,}", f"{c.expired:,}",
                  f"{c.pending:,}", f"{c.dead:,}")
    console.print(o)
    console.print(f"{sent} relay tasks in {wall:.1f}s; outbox files: {out}")


def summary(engine: Engine, wall: float, days: int) -> None:
    """Print what the demo collected, where the loans stand and the events it made."""
    with engine.connect() as conn:
        j = s.journals.c
        collected = dict(conn.execute(select(j.kind, func.sum(j.amount)).where(
            j.kind.in_(("deduct_wallet", "deduct_card", "deduct_fund"))).group_by(j.kind)).all())
        lo = s.loans.c
        buckets: dict[str, int] = dict(conn.execute(select(lo.bucket, func.count()).where(
            lo.status.in_(("active", "overdue"))).group_by(lo.bucket)).all())
        statuses: dict[str, int] = dict(conn.execute(
            select(lo.status, func.count()).group_by(lo.status)).all())
        handoffs = conn.execute(select(func.count()).select_from(s.handoffs)).scalar_one()
        se = s.score_events.c
        score: dict[str, int] = dict(conn.execute(
            select(se.reason, func.count()).group_by(se.reason)).all())
        limit_reasons: Counter[str] = Counter()
        for reasons, in conn.execute(select(s.limit_events.c.reasons)):
            limit_reasons.update(reasons.split(","))
        k = s.chunk_runs.c
        chunks = conn.execute(select(func.count()).select_from(s.chunk_runs)
                              .where(k.done_at.is_not(None))).scalar_one()
        problems = ledger_checks.check_all(conn)

    t = Table(title="collected by source", title_justify="left")
    t.add_column("source")
    t.add_column("yuan", justify="right")
    for kind in ("deduct_wallet", "deduct_card", "deduct_fund"):
        t.add_row(kind.removeprefix("deduct_"), yuan(int(collected.get(kind, 0))))
    console.print(t)
    b = Table(title="live loans by bucket", title_justify="left")
    b.add_column("bucket")
    b.add_column("loans", justify="right")
    for name in ("C", "M1", "M2", "M3", "M3+"):
        b.add_row(name, f"{buckets.get(name, 0):,}")
    console.print(b)
    by_status = ", ".join(f"{k} {v:,}" for k, v in sorted(statuses.items()))
    console.print(f"loans by status: {by_status}")
    console.print(f"agency handoffs: {handoffs:,}   write-offs: {statuses.get('written_off', 0):,}")
    r = Table(title="score changes by reason", title_justify="left")
    r.add_column("reason")
    r.add_column("events", justify="right")
    for reason, n in sorted(score.items(), key=lambda x: -x[1]):
        r.add_row(reason, f"{n:,}")
    console.print(r)
    lt = Table(title="limit changes by reason", title_justify="left")
    lt.add_column("reason")
    lt.add_column("events", justify="right")
    for reason, n in limit_reasons.most_common():
        lt.add_row(reason, f"{n:,}")
    console.print(lt)
    console.print(f"{days} business dates in {wall:.1f}s through Celery workers "
                  f"({chunks:,} chunks, {chunks / wall:.1f} chunks/s)")
    console.print("ledger: " + ("[green]balanced[/]" if not problems
                                else f"[red]{len(problems)} problems[/]: {problems[:3]}"))
