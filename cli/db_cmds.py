"""The database: migrate, seed."""

from __future__ import annotations

import time

import click

from cli.common import clock, fail, need_drills, parse_date, time_zone, url_or_exit
from domain.commands import InputError


@click.command()
@click.option("--database-url", default=None, help="Default: $DATABASE_URL or ./creditcycle.db")
def migrate(database_url: str | None) -> None:
    """Bring the database schema up to date."""
    from store.engine import migrate as run

    run(url_or_exit(database_url, create=True))
    click.echo("schema is up to date", err=True)


@click.command()
@click.option("--users", type=click.IntRange(1, 20_000_000), required=True)
@click.option("--start", default=None, help="First business date to close (default: today).")
@click.option("--database-url", default=None)
@click.option("--chunk-size", type=click.IntRange(1, 1_000_000), default=None)
def seed(users: int, start: str | None, database_url: str | None,
         chunk_size: int | None) -> None:
    """Seed a synthetic portfolio (one loan per user) into an empty database."""
    from domain.config import ProductConfig
    need_drills("seed")
    from drills.seed import seed_portfolio
    from schedules import business_date
    from store.cycle import mark_closed_before
    from store.engine import make_engine, require_empty
    from store.engine import migrate as run

    first = parse_date(start, "--start") or clock(business_date.business_today, time_zone())
    url = url_or_exit(database_url, create=True)
    try:
        require_empty(url)
    except InputError as exc:
        fail(exc)
    run(url)
    engine = make_engine(url)
    config = ProductConfig(chunk_size=chunk_size) if chunk_size else ProductConfig()
    t = time.monotonic()
    made = seed_portfolio(engine, users, first, config=config)
    mark_closed_before(engine, first)
    click.echo(f"seeded {made['users']} users and {made['loans']} loans in "
               f"{time.monotonic() - t:.1f}s; first date to close: {first}", err=True)
