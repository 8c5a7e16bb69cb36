"""``creditcycle import DIR``: onboard an existing book from CSV files (SPEC 13)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import click

from cli.common import fail, parse_date, time_zone, url_or_exit
from domain.commands import InputError


@click.command("import")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--date", "day", default=None,
              help="The first business date the book is serviced on (default: the day after "
                   "the last closed date, or today's).")
@click.option("--database-url", default=None)
def import_book(directory: Path, day: str | None, database_url: str | None) -> None:
    """Import users.csv, loans.csv and balances.csv from DIRECTORY.

    Every cell is checked first (a bad one is named file:line:column and nothing is
    written); what is stored already is left as it is, so a second import of the same
    files changes nothing. Opening balances and loans enter the ledger as opening
    journals."""
    from domain import book as rules
    from schedules import business_date
    from store import cycle as cyc
    from store import users as users_store
    from store.cycle_reads import last_closed_day
    from store.engine import make_engine
    from workers import ingest_batches
    from workers.runtime import load_config

    texts = {}
    for name in rules.FILES:
        path = directory / name
        if path.exists():
            try:
                texts[name] = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                fail(InputError(name, f"cannot be read: {exc}"))
    engine = make_engine(url_or_exit(database_url))
    try:
        with engine.connect() as conn:
            ids = [line.partition(",")[0] for line in texts.get("users.csv", "").splitlines()]
            known = users_store.existing(conn, ids)
            closed = last_closed_day(conn)
        try:
            book = rules.parse_book(texts, known)
        except InputError as exc:
            fail(exc)
        first: date = parse_date(day) or (closed + timedelta(days=1) if closed else
                                          business_date.business_today(time_zone()))
        if closed is not None and first <= closed:
            fail(InputError("--date", f"{first} is on or before the last closed business "
                                      f"date {closed}"))
        with engine.begin() as conn:
            out = ingest_batches.import_book(conn, book, first, load_config())
            if closed is None:  # the cycle starts at the first open day
                cyc.close_before(conn, first, "imported")
    finally:
        engine.dispose()
    click.echo(json.dumps({**out, "first_open_day": first.isoformat()}))
