"""Closing business dates: cycle run, status, release, recheck."""

from __future__ import annotations

import sys
from datetime import date, timedelta

import click

from cli.common import (
    env_settings,
    fail,
    last_ended,
    need_drills,
    parse_date,
    require_ended,
    url_or_exit,
)
from domain.commands import InputError
from workers import settings


@click.group()
def cycle() -> None:
    """Close business dates; see and release what is held."""


@cycle.command("run")
@click.option("--date", "day", default=None,
              help="Close up to this business date (default: yesterday in the deployment's "
                   "time zone); a date that has not ended there is refused.")
@click.option("--wait", is_flag=True, help="Show progress and wait until the date is closed.")
@click.option("--database-url", default=None)
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes when no broker is configured.")
def cycle_run(day: str | None, wait: bool, database_url: str | None, concurrency: int) -> None:
    """Trigger the close of business (catching up missed dates in order)."""
    from cli import api

    target = parse_date(day) or last_ended()
    try:
        api.validate("creditcycle.cycle.run", {"date": target.isoformat()})
        require_ended(target)
    except InputError as exc:
        fail(exc)
    url = url_or_exit(database_url)
    if env_settings().redis_url:
        settings.export("DATABASE_URL", url)
        task_id = api.submit("creditcycle.cycle.run", date=target.isoformat())
        click.echo(f"submitted {task_id}", err=True)
        if wait:
            drive_until_closed(url, target)
        return
    if not wait:
        raise click.UsageError("no REDIS_URL: run `creditcycle up` first, or use --wait to "
                               "run with a private Redis and workers for this command")
    need_drills("cycle run --wait without REDIS_URL")
    from drills.stack import local_stack

    # A one-off local run: the bank named by CREDITCYCLE_BANK_URL, else the simulator in
    # the database (it keeps its cards and ledger from one run to the next).
    with local_stack(url, bank="sim" if env_settings().bank_url else "local") as st:
        st.start_worker(concurrency)
        api.submit("creditcycle.cycle.run", date=target.isoformat())
        drive_until_closed(url, target)


def drive_until_closed(url: str, target: date) -> None:
    from store.engine import make_engine
    from workers.cycle import LedgerBroken
    from workers.progress import WaitError, closed_through, wait_for

    engine = make_engine(url)
    last = closed_through(engine)
    first = last + timedelta(days=1) if last and last < target else target
    try:
        wait_for(engine, target, first)
    except LedgerBroken as exc:
        raise click.ClickException(str(exc)) from None
    except WaitError as exc:
        raise click.ClickException(f"stopped waiting for {target}: {exc}") from None
    finally:
        engine.dispose()


@cycle.command("status")
@click.option("--date", "day", default=None)
@click.option("--database-url", default=None)
def cycle_status(day: str | None, database_url: str | None) -> None:
    """Steps of a business date, chunk counts, quarantined chunks and held users."""
    from rich.console import Console

    from store.engine import make_engine
    from workers.cycle import broken, describe_broken
    from workers.progress import status_table

    engine = make_engine(url_or_exit(database_url))
    table, held = status_table(engine, parse_date(day))
    console = Console()
    console.print(table)
    stop = broken(engine)
    if stop is not None:
        from rich.markup import escape

        console.print(f"[bold red]ledger broken:[/] {escape(describe_broken(stop))}",
                      highlight=False)
    if held:
        console.print(f"[bold red]held users ({len(held)}):[/] " + ", ".join(held))
        console.print("release them with: creditcycle cycle release --date DATE")


@cycle.command("release")
@click.option("--date", "day", required=True)
@click.option("--database-url", default=None)
def cycle_release(day: str, database_url: str | None) -> None:
    """Let the users held on DATE catch up to the last closed date."""
    from cli import api

    target = parse_date(day)
    if target is None:  # click requires the argument
        raise AssertionError("no date")
    settings.export("DATABASE_URL", url_or_exit(database_url))
    result = api.run_here("creditcycle.cycle.release", date=target.isoformat())
    click.echo(f"released {len(result['released'])} users: {', '.join(result['released'])}")


@cycle.command("recheck")
@click.option("--date", "day", required=True)
@click.option("--database-url", default=None)
def cycle_recheck(day: str, database_url: str | None) -> None:
    """Prove DATE's ledger again after fixing what its proof found; if it holds, DATE is
    closed and the next `cycle run` goes on with the catch-up."""
    from store.engine import make_engine
    from workers.cycle import recheck

    target = parse_date(day)
    if target is None:  # click requires the argument
        raise AssertionError("no date")
    engine = make_engine(url_or_exit(database_url))
    try:
        problems = recheck(engine, target)
    except InputError as exc:
        fail(InputError("--date", exc.message))
    finally:
        engine.dispose()
    if problems:
        click.echo(f"{target} is still broken: " + "; ".join(problems), err=True)
        sys.exit(1)
    click.echo(f"the ledger of {target} holds: {target} is closed; `creditcycle cycle run` "
               "goes on with the catch-up")
