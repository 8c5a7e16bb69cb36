"""Ad-hoc work: repay, limit recalc, agencies."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from cli.common import env_settings, fail, url_or_exit
from domain.commands import InputError
from workers import settings


def _submit_or_run(task: str, database_url: str | None, **kwargs: Any) -> None:
    from cli import api

    settings.export("DATABASE_URL", url_or_exit(database_url))
    try:
        if env_settings().redis_url:
            click.echo(f"submitted {api.submit(task, **kwargs)}")
        else:
            click.echo(json.dumps(api.run_here(task, **kwargs)))
    except InputError as exc:
        fail(exc)


@click.command()
@click.option("--user", required=True)
@click.option("--amount", type=int, required=True, help="Fen.")
@click.option("--reference", required=True, help="The payment's idempotency key.")
@click.option("--loan", default=None)
@click.option("--date", "day", default=None,
              help="The business date (default: today's); never a closed or future one.")
@click.option("--database-url", default=None)
@click.option("--timeout", type=click.IntRange(0, 3600), default=60, show_default=True,
              help="With REDIS_URL: seconds to wait for the worker's answer (0: only submit).")
def repay(user: str, amount: int, reference: str, loan: str | None, day: str | None,
          database_url: str | None, timeout: int) -> None:
    """Record a repayment received from outside (idempotent by --reference).

    A refused repayment (unknown user or loan, a closed or future date) exits 2 with
    the reason, also through a broker: it waits for the worker's answer."""
    kwargs: dict[str, Any] = {"user": user, "amount": amount, "reference": reference,
                              "loan": loan, "date": day}
    if not env_settings().redis_url or timeout == 0:
        _submit_or_run("creditcycle.repay", database_url, **kwargs)
        return
    from cli import api

    url = url_or_exit(database_url)
    settings.export("DATABASE_URL", url)
    try:
        task_id = api.submit("creditcycle.repay", **kwargs)
    except InputError as exc:
        fail(exc)
    click.echo(f"submitted {task_id}", err=True)
    _await_repay(url, task_id, reference, timeout)


def _await_repay(url: str, task_id: str, reference: str, timeout: int) -> None:
    """Until the repayment is applied (exit 0) or rejected (exit 2 with the reason)."""
    from store.engine import make_engine
    from store.events import event_recorded
    from store.task_records import rejection_of

    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                rejected = rejection_of(conn, task_id)
                applied = rejected is None and event_recorded(conn, f"repay:{reference}")
            if rejected is not None:
                fail(InputError(*rejected))
            if applied:
                click.echo(json.dumps({"reference": reference, "task_id": task_id}))
                return
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"no answer within {timeout} s: task {task_id} is queued or running; "
                    "a refusal will be in the rejections table")
            time.sleep(0.2)
    finally:
        engine.dispose()


@click.group()
def limit() -> None:
    """Credit limits."""


@limit.command("recalc")
@click.option("--user", required=True)
@click.option("--date", "day", default=None)
@click.option("--database-url", default=None)
def limit_recalc(user: str, day: str | None, database_url: str | None) -> None:
    """Recalculate one user's limit now."""
    _submit_or_run("creditcycle.limit.recalc", database_url, user=user, date=day)


@click.group()
def agencies() -> None:
    """Collection agencies that receive handoffs (DPD 91)."""


@agencies.command("add")
@click.argument("name")
@click.option("--database-url", default=None)
def agencies_add(name: str, database_url: str | None) -> None:
    """Add agency NAME (or make a retired one active again); held handoffs go through."""
    _submit_or_run("creditcycle.agencies.add", database_url, name=name)


@agencies.command("retire")
@click.argument("name")
@click.option("--database-url", default=None)
def agencies_retire(name: str, database_url: str | None) -> None:
    """Retire agency NAME: it gets no new handoffs and keeps its open cases."""
    _submit_or_run("creditcycle.agencies.retire", database_url, name=name)


@agencies.command("list")
@click.option("--database-url", default=None)
def agencies_list(database_url: str | None) -> None:
    """The agencies, active or retired, with their open cases."""
    from store import agencies as store
    from store.engine import make_engine

    engine = make_engine(url_or_exit(database_url))
    try:
        with engine.connect() as conn:
            rows = store.listing(conn)
    finally:
        engine.dispose()
    if not rows:
        click.echo("no collection agencies; add one with: creditcycle agencies add NAME",
                   err=True)
    for r in rows:
        status = f"retired {r.retired_at:%Y-%m-%d %H:%M} UTC" if r.retired_at else "active"
        click.echo(f"{r.name}\t{status}\t{r.open_cases} open cases")
