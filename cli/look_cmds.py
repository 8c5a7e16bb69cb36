"""Looking at what happened: scenario run, explain, report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cli.common import EXIT_INVALID, fail, need_drills, parse_date, url_or_exit
from domain.commands import InputError
from workers.scenario import ScenarioError, load_file, run_scenario


@click.group()
def scenario() -> None:
    """Run stories written as scenario files (SPEC section 11)."""


@scenario.command("run")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result JSON here (default: standard output).")
@click.option("--database-url", default=None,
              help="Run on this (empty) database instead of a temporary SQLite file; "
                   "it is kept, e.g. for `creditcycle explain`.")
@click.option("--via", type=click.Choice(["inline", "celery"]), default="inline",
              show_default=True, help="celery: through real workers on a (private) Redis.")
def scenario_run(file: Path, out: Path | None, database_url: str | None, via: str) -> None:
    """Run FILE on a fresh database and write the final state."""
    if database_url is not None:
        database_url = url_or_exit(database_url, create=True)
    try:
        data = load_file(file)
        if via == "celery":
            need_drills("scenario run --via celery")
            from drills.scenario_celery import run_scenario_via_celery

            result = run_scenario_via_celery(data, database_url=database_url)
        else:
            result = run_scenario(data, database_url=database_url)
    except ScenarioError as exc:
        click.echo(f"invalid scenario {file}: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    except InputError as exc:
        fail(exc)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@click.command()
@click.argument("user")
@click.option("--since", default=None, help="Show the timeline from this date (YYYY-MM-DD).")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option("--database-url", default=None)
def explain(user: str, since: str | None, lang: str, database_url: str | None) -> None:
    """Why USER's score and limit are what they are, and what would restore them."""
    from reports.explain import UnknownUser
    from reports.explain import explain as run
    from store.engine import make_engine
    from workers.runtime import load_config

    first = parse_date(since, "--since")
    engine = make_engine(url_or_exit(database_url))
    try:
        click.echo(run(engine, user, lang=lang, since=first, config=load_config()), nl=False)
    except UnknownUser:
        fail(InputError("USER", f"unknown user {user!r}"))
    finally:
        engine.dispose()


@click.command()
@click.option("--date", "day", default=None,
              help="The business date to report on (default: the last closed one).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the HTML here (default: report-DATE.html).")
@click.option("--days", type=click.IntRange(1, 3660), default=90, show_default=True,
              help="Days of history in the plots.")
@click.option("--database-url", default=None)
def report(day: str | None, out: Path | None, days: int, database_url: str | None) -> None:
    """One self-contained HTML page about a night: money, buckets, rolls, reasons, steps."""
    from reports.nightly import report as build
    from store.cycle_reads import is_closed_day, last_closed_day
    from store.engine import make_engine
    from workers.runtime import load_config

    engine = make_engine(url_or_exit(database_url))
    try:
        target = parse_date(day)
        with engine.connect() as conn:
            last = last_closed_day(conn)
            closed = target is not None and is_closed_day(conn, target)
        if last is None:
            fail(InputError("--date", "no business date has been closed yet: close one with "
                                       "`creditcycle cycle run --wait`"))
        if target is None:
            target = last
        elif not closed:
            fail(InputError("--date", f"{target} has not been closed; the last closed date "
                                       f"is {last}: report on it, or close {target} first"))
        if target is None:  # set above, or fail has exited
            raise AssertionError("no date")
        page = build(engine, target, days, load_config())
    finally:
        engine.dispose()
    path = out or Path(f"report-{target.isoformat()}.html")
    path.write_text(page, encoding="utf-8")
    click.echo(f"wrote {path}", err=True)

