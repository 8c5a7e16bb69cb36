"""``creditcycle import DIR``: onboard an existing book from CSV files (SPEC 13)."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
    first = parse_date(day)
    url = url_or_exit(database_url)
    try:
        out = run_import(directory, first, url)
    except InputError as exc:
        fail(exc)
    click.echo(json.dumps(out))


def run_import(directory: Path, first: date | None, url: str) -> dict[str, object]:
    """Check the book in ``directory`` whole, then write it in one transaction (the
    command's work; raises InputError, with nothing written, for a bad book or date).

    Two passes over the files, each read as it goes: the check keeps only ids and a few
    numbers per user, the writing pass reads the files again."""
    from domain import book as rules
    from schedules import business_date
    from store import cycle as cyc
    from store import users as users_store
    from store.cycle_reads import last_closed_day
    from store.engine import make_engine
    from workers import book_import
    from workers.runtime import load_config

    for name in rules.FILES:
        path = directory / name
        if path.exists():
            try:
                with path.open("rb"):
                    pass
            except OSError as exc:
                raise InputError(name, f"cannot be read: {exc}") from None

    def open_file(name: str) -> Iterator[str] | None:
        path = directory / name
        return book_import.file_lines(path) if path.exists() else None

    checked = rules.check_book(open_file)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stored = users_store.existing(conn, list(checked.outside))
            closed = last_closed_day(conn)
        rules.refuse_unknown(checked, stored)
        first = first or (closed + timedelta(days=1) if closed else
                          business_date.business_today(time_zone()))
        if closed is not None and first <= closed:
            raise InputError("--date", f"{first} is on or before the last closed business "
                                       f"date {closed}")
        with engine.begin() as conn:
            out = book_import.import_book(conn, open_file, checked, first, load_config(),
                                          directory)
            if closed is None:  # the cycle starts at the first open day
                cyc.close_before(conn, first, "imported")
    finally:
        engine.dispose()
    return {**out, "first_open_day": first.isoformat()}
