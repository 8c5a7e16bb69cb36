"""The outboxes of the way out: status per sink, re-queue dead batches, deliver now."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from cli.common import clock, env_settings, fail, time_zone, url_or_exit
from domain.commands import InputError
from domain.outbox import RELAYS, outbox_problem, relay_of


def _engine(database_url: str | None) -> Any:
    from store.engine import make_engine

    return make_engine(url_or_exit(database_url))


@click.group()
def outbox() -> None:
    """Reminders, agency files and the bureau feed on their way to the sinks (SPEC 14)."""


@outbox.command("status")
@click.option("--database-url", default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per outbox.")
def outbox_status(database_url: str | None, as_json: bool) -> None:
    """Rows pending (waiting: not yet in a batch), delivered, dead and expired, per sink.

    Exits 1 when any row is dead: it waits for `creditcycle outbox retry`."""
    from store import outboxes

    conf = env_settings()
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            rows = outboxes.status(conn)
    finally:
        engine.dispose()
    dead = sum(r.dead for r in rows)
    for relay in RELAYS:
        mine = [r for r in rows if relay_of(r.outbox) == relay]
        url = conf.sink_url(relay) or "(no sink: set CREDITCYCLE_SINK_" + relay.upper() + ")"
        if as_json:
            for r in mine:
                click.echo(json.dumps({"sink": url, **vars(r)}, sort_keys=True))
            continue
        click.echo(f"{relay} -> {url}")
        if not mine:
            click.echo("  (nothing yet)")
        for r in mine:
            flag = "  DEAD: retry with `creditcycle outbox retry`" if r.dead else ""
            click.echo(f"  {r.outbox}: pending {r.pending} (waiting {r.waiting}), "
                       f"delivered {r.delivered}, dead {r.dead}, expired {r.expired}, "
                       f"copies dropped by the sink {r.copies}{flag}")
            if r.last_error and (r.dead or r.pending):
                click.echo(f"    last error: {r.last_error}")
    if dead:
        raise SystemExit(1)


def _outboxes(names: tuple[str, ...]) -> list[str] | None:
    for name in names:
        if name not in RELAYS and (problem := outbox_problem(name)):
            fail(InputError("--outbox", f"{problem}; or a relay: {', '.join(RELAYS)}"))
    return list(names) or None


@outbox.command("retry")
@click.option("--outbox", "names", multiple=True,
              help="An outbox (notifications, bureau, bureau_file, agency:NAME) or a relay "
                   "(agencies: every agency); repeatable. Default: every outbox.")
@click.option("--database-url", default=None)
def outbox_retry(names: tuple[str, ...], database_url: str | None) -> None:
    """Re-queue dead batches, due at once, with the same keys and rows (a reminder whose
    window has passed then expires instead of going late)."""
    from store import outboxes
    from workers.relays import host_now

    chosen = _outboxes(names)
    engine = _engine(database_url)
    try:
        with engine.begin() as conn:
            batches, rows = outboxes.retry_dead(conn, host_now(), chosen)
    finally:
        engine.dispose()
    click.echo(f"re-queued {batches} dead batch(es), {rows} row(s)")


@outbox.command("deliver")
@click.option("--relay", "names", multiple=True, type=click.Choice(RELAYS),
              help="Default: every relay with a sink configured.")
@click.option("--database-url", default=None)
def outbox_deliver(names: tuple[str, ...], database_url: str | None) -> None:
    """Run the relays once in this process (beat runs them every minute on the workers)."""
    from schedules import business_date
    from workers import relays, runtime
    from workers.relays import sinks

    conf = env_settings()
    zone = time_zone()
    max_attempts = clock(runtime.load_config).outbox_max_attempts
    engine = _engine(database_url)
    try:
        for name in [r for r in RELAYS if not names or r in names]:
            sink = sinks.sink(name)
            if sink is None:
                click.echo(f"{name}: no sink (set {sinks.ENV[name]})", err=True)
                continue
            result = relays.run(engine, name, sink,
                                business_now=lambda: clock(business_date.now, zone),
                                max_attempts=max_attempts, scale=conf.retry_scale)
            click.echo(json.dumps({"relay": name, "sink": sink.url, **result.as_dict()}))
            sys.stdout.flush()  # a relay killed later must not take this line with it
    finally:
        engine.dispose()
