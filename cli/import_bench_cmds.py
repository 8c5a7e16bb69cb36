"""``creditcycle import-bench``: time ``creditcycle import`` on a synthetic book (SPEC 13)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.common import need_drills


@click.command("import-bench")
@click.option("--users", type=click.IntRange(1, 20_000_000), default=1_000_000,
              show_default=True, help="Users in the book, one loan each.")
@click.option("--database-url", default=None,
              help="A database to import into (migrated first); default a private "
                   "PostgreSQL started for the run and removed after it.")
@click.option("--book-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the book's CSV files here and keep them (default: a temporary "
                   "directory).")
def import_bench(users: int, database_url: str | None, book_dir: Path | None) -> None:
    """Write a book of N users and loans, import it, print the time it took."""
    need_drills("import-bench")
    from cli.import_cmds import run_import
    from drills.book_gen import import_bench as bench

    timing = bench(run_import, users, database_url, book_dir)
    click.echo(timing.line())
    click.echo(json.dumps(timing.result))
