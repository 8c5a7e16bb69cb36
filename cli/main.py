"""The ``creditcycle`` command line: thin over the Python API, the stack and the runners."""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

from domain.commands import InputError
from workers import settings
from workers.scenario import ScenarioError, load_file, run_scenario

EXIT_INVALID = 2


def _fail(exc: InputError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_INVALID)


def _settings() -> settings.Settings:
    """The environment's settings; a bad variable ends the command naming it (exit 2)."""
    from domain.config import ConfigError

    try:
        return settings.get()
    except ConfigError as exc:
        _fail(InputError(exc.field, exc.message))
    raise AssertionError


def _date(value: str | None, field: str = "--date") -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(InputError(field, f"{value!r} is not a date YYYY-MM-DD"))
    raise AssertionError


def _time_zone() -> str:
    """The deployment's time zone, from the configuration the workers read."""
    from domain.config import ConfigError
    from workers.runtime import load_config

    try:
        return load_config().time_zone
    except ConfigError as exc:
        _fail(InputError(exc.field, exc.message))
    raise AssertionError


def _clock(fn: Any, *args: Any) -> Any:
    from domain.config import ConfigError

    try:
        return fn(*args)
    except ConfigError as exc:
        _fail(InputError(exc.field, exc.message))


def _last_ended() -> date:
    """The newest business date that has ended: the tasks' default date to close too."""
    from schedules import business_date

    return _clock(business_date.last_ended, _time_zone())  # type: ignore[no-any-return]


def _require_ended(day: date) -> None:
    from schedules import business_date

    _clock(business_date.require_ended, day, _time_zone(), "--date")


def _url(database_url: str | None, *, create: bool = False) -> str:
    """The database URL to use, refused in one line (exit 2) if it cannot be used.

    Only the commands that make a database (``migrate``, ``seed``, ``up``, ``scenario
    run``) pass ``create``; the others refuse a SQLite file that does not exist.
    """
    from store.engine import check_database
    from store.engine import database_url as default

    given = _settings().database_url
    field = "DATABASE_URL" if database_url is None and given else "--database-url"
    url = default(database_url or given)
    try:
        check_database(url, create=create, field=field)
    except InputError as exc:
        _fail(exc)
    return url


def _unreachable(exc: Exception) -> InputError | None:
    """The one-line error for a service that failed under a command, or None if unknown."""
    from kombu.exceptions import OperationalError as BrokerError
    from kombu.utils.url import maybe_sanitize_url
    from redis.exceptions import ConnectionError as RedisConnectionError
    from sqlalchemy.exc import InterfaceError
    from sqlalchemy.exc import OperationalError as DatabaseError

    if isinstance(exc, BrokerError | RedisConnectionError):
        where = maybe_sanitize_url(settings.get().redis_url or "")
        return InputError("REDIS_URL", f"cannot reach Redis at {where}: "
                                       f"{str(exc).rstrip('.')}: start it, fix "
                                       "REDIS_URL, or unset it to run without a broker")
    if isinstance(exc, DatabaseError | InterfaceError):
        # the driver's own first line; never the statement or its parameters
        reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        return InputError("DATABASE_URL", f"the database failed under the command: {reason}: "
                                          "check it is up and run the command again")
    return None


class _Main(click.Group):
    """Known failures of the services (Redis, the database) end as one line and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            known = _unreachable(exc)
            if known is None:
                raise
            _fail(known)


@click.group(cls=_Main)
@click.version_option(package_name="creditcycle")
def main() -> None:
    """Nightly servicing jobs of a consumer micro-loan platform."""
    _settings()  # a bad environment variable is refused before any command runs


# ---------------------------------------------------------------- database
@main.command()
@click.option("--database-url", default=None, help="Default: $DATABASE_URL or ./creditcycle.db")
def migrate(database_url: str | None) -> None:
    """Bring the database schema up to date."""
    from store.engine import migrate as run

    run(_url(database_url, create=True))
    click.echo("schema is up to date", err=True)


@main.command()
@click.option("--users", type=click.IntRange(1, 20_000_000), required=True)
@click.option("--start", default=None, help="First business date to close (default: today).")
@click.option("--database-url", default=None)
@click.option("--chunk-size", type=click.IntRange(1, 1_000_000), default=None)
def seed(users: int, start: str | None, database_url: str | None,
         chunk_size: int | None) -> None:
    """Seed a synthetic portfolio (one loan per user) into an empty database."""
    from domain.config import ProductConfig
    from drills.seed import mark_closed_before, seed_portfolio
    from schedules import business_date
    from store.engine import make_engine, require_empty
    from store.engine import migrate as run

    first = _date(start, "--start") or _clock(business_date.business_today, _time_zone())
    url = _url(database_url, create=True)
    try:
        require_empty(url)
    except InputError as exc:
        _fail(exc)
    run(url)
    engine = make_engine(url)
    config = ProductConfig(chunk_size=chunk_size) if chunk_size else ProductConfig()
    t = time.monotonic()
    made = seed_portfolio(engine, users, first, config=config)
    mark_closed_before(engine, first)
    click.echo(f"seeded {made['users']} users and {made['loans']} loans in "
               f"{time.monotonic() - t:.1f}s; first date to close: {first}", err=True)


# ---------------------------------------------------------------- cycle
@main.group()
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

    target = _date(day) or _last_ended()
    try:
        api.validate("creditcycle.cycle.run", {"date": target.isoformat()})
        _require_ended(target)
    except InputError as exc:
        _fail(exc)
    url = _url(database_url)
    if _settings().redis_url:
        settings.export("DATABASE_URL", url)
        task_id = api.submit("creditcycle.cycle.run", date=target.isoformat())
        click.echo(f"submitted {task_id}", err=True)
        if wait:
            _wait(url, target)
        return
    if not wait:
        raise click.UsageError("no REDIS_URL: run `creditcycle up` first, or use --wait to "
                               "run with a private Redis and workers for this command")
    from drills.stack import local_stack

    with local_stack(url) as st:
        st.start_worker(concurrency)
        api.submit("creditcycle.cycle.run", date=target.isoformat())
        _wait(url, target)


def _wait(url: str, target: date) -> None:
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

    engine = make_engine(_url(database_url))
    table, held = status_table(engine, _date(day))
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

    target = _date(day)
    if target is None:  # click requires the argument
        raise AssertionError("no date")
    settings.export("DATABASE_URL", _url(database_url))
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

    target = _date(day)
    if target is None:  # click requires the argument
        raise AssertionError("no date")
    engine = make_engine(_url(database_url))
    try:
        problems = recheck(engine, target)
    except InputError as exc:
        _fail(InputError("--date", exc.message))
    finally:
        engine.dispose()
    if problems:
        click.echo(f"{target} is still broken: " + "; ".join(problems), err=True)
        sys.exit(1)
    click.echo(f"the ledger of {target} holds: {target} is closed; `creditcycle cycle run` "
               "goes on with the catch-up")


# ---------------------------------------------------------------- ad-hoc work
def _submit_or_run(task: str, database_url: str | None, **kwargs: Any) -> None:
    from cli import api

    settings.export("DATABASE_URL", _url(database_url))
    try:
        if _settings().redis_url:
            click.echo(f"submitted {api.submit(task, **kwargs)}")
        else:
            click.echo(json.dumps(api.run_here(task, **kwargs)))
    except InputError as exc:
        _fail(exc)


@main.command()
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
    if not _settings().redis_url or timeout == 0:
        _submit_or_run("creditcycle.repay", database_url, **kwargs)
        return
    from cli import api

    url = _url(database_url)
    settings.export("DATABASE_URL", url)
    try:
        task_id = api.submit("creditcycle.repay", **kwargs)
    except InputError as exc:
        _fail(exc)
    click.echo(f"submitted {task_id}", err=True)
    _await_repay(url, task_id, reference, timeout)


def _await_repay(url: str, task_id: str, reference: str, timeout: int) -> None:
    """Until the repayment is applied (exit 0) or rejected (exit 2 with the reason)."""
    from store.engine import make_engine
    from store.queries import event_recorded, rejection_of

    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                rejected = rejection_of(conn, task_id)
                applied = rejected is None and event_recorded(conn, f"repay:{reference}")
            if rejected is not None:
                _fail(InputError(*rejected))
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


@main.group()
def limit() -> None:
    """Credit limits."""


@limit.command("recalc")
@click.option("--user", required=True)
@click.option("--date", "day", default=None)
@click.option("--database-url", default=None)
def limit_recalc(user: str, day: str | None, database_url: str | None) -> None:
    """Recalculate one user's limit now."""
    _submit_or_run("creditcycle.limit.recalc", database_url, user=user, date=day)


@main.group()
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

    engine = make_engine(_url(database_url))
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


# ---------------------------------------------------------------- processes
LOCAL_DEMO = click.option("--local-demo", is_flag=True,
                          help="Allow running without CREDITCYCLE_CONTACT_SECRET (a local "
                               "demo: the development secret is used).")


@main.command()
@click.option("-c", "--concurrency", type=click.IntRange(1, 64), default=2, show_default=True)
@LOCAL_DEMO
def worker(concurrency: int, local_demo: bool) -> None:
    """Run a Celery worker on the cycle queue (needs REDIS_URL, CREDITCYCLE_CONTACT_SECRET)."""
    _need_redis()
    _need_contact_secret(local_demo)
    # S606: becomes the process it runs; the command is fixed here
    os.execvp(sys.executable, [sys.executable, "-m", "celery", "-A", "workers.celery_app",  # noqa: S606
                               "worker", "-Q", "cycle", "-c", str(concurrency), "-l", "INFO"])


@main.command()
@LOCAL_DEMO
def beat(local_demo: bool) -> None:
    """Run the beat scheduler (needs REDIS_URL, CREDITCYCLE_CONTACT_SECRET); its schedule
    file lives in CREDITCYCLE_STATE_DIR (default $XDG_STATE_HOME/creditcycle)."""
    _need_redis()
    _need_contact_secret(local_demo)
    from schedules.beat import STATE_ENV, state_dir

    where = state_dir()
    try:
        where.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=where).close()
    except OSError as exc:
        raise click.UsageError(f"beat cannot write its schedule file in {where} "
                               f"({exc.strerror}): set {STATE_ENV} to a writable "
                               "directory") from None
    # S606: becomes the process it runs; the command is fixed here
    os.execvp(sys.executable, [sys.executable, "-m", "celery", "-A", "workers.celery_app",  # noqa: S606
                               "beat", "-l", "INFO"])


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=5555, show_default=True)
@click.option("--local-demo", is_flag=True,
              help="Allow running without credentials and CREDITCYCLE_CONTACT_SECRET "
                   "(loopback only, for a local demo).")
def flower(port: int, local_demo: bool) -> None:
    """Run Flower on 127.0.0.1 with basic auth from FLOWER_BASIC_AUTH=user:password."""
    _need_redis()
    command = flower_command(port, local_demo)
    _need_contact_secret(local_demo)
    # S606: becomes the process it runs; the command is fixed here
    os.execvp(sys.executable, command)  # noqa: S606


def flower_command(port: int, local_demo: bool) -> list[str]:
    """The command that runs Flower; refuses without credentials unless ``local_demo``."""
    given = _settings().flower_basic_auth
    auth = given.get_secret_value() if given is not None else ""
    if ":" not in auth and not local_demo:
        raise click.UsageError("Flower refuses to start without credentials: set "
                               "FLOWER_BASIC_AUTH=user:password (or --local-demo)")
    # No --basic-auth: Flower reads FLOWER_BASIC_AUTH from the environment it inherits, so
    # the credentials are not on a command line that any local user can read (ps).
    return [sys.executable, "-m", "celery", "-A", "workers.celery_app", "flower",
            "--address=127.0.0.1", f"--port={port}"]


def _need_redis() -> None:
    if not _settings().redis_url:
        raise click.UsageError("set REDIS_URL (or use `creditcycle up`, which starts one)")


def _need_contact_secret(local_demo: bool) -> None:
    """A real deployment refuses to start without the secret that keys contact tokens; a
    local demo (``--local-demo``, ``up`` with its private Redis) uses the development one."""
    if _settings().contact_secret is not None:
        return
    if not local_demo:
        _fail(InputError("CREDITCYCLE_CONTACT_SECRET", "is required outside a local demo "
                         "(it keys the contact tokens sent to agencies): set it to a long "
                         "random value, or pass --local-demo"))
    settings.export("CREDITCYCLE_CONTACT_SECRET", settings.LOCAL_DEMO_CONTACT)


@main.command()
@click.option("--database-url", default=None)
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--flower-port", type=click.IntRange(1, 65535), default=5555, show_default=True)
def up(database_url: str | None, concurrency: int, flower_port: int) -> None:
    """Everything locally: Redis (private unless REDIS_URL), worker, beat and Flower."""
    from drills.stack import first_exit, last_lines, local_stack, redis_answers
    from store.engine import migrate as run

    url = _url(database_url, create=True)
    given = _settings().redis_url
    if given and (why := redis_answers(given)) is not None:
        click.echo(f"error: REDIS_URL: Redis at {_masked(given)} does not answer ({why}); "
                   "start it, or unset REDIS_URL and `creditcycle up` starts a private one",
                   err=True)
        sys.exit(EXIT_INVALID)
    if given:  # with its private Redis `up` is a local demo; with REDIS_URL it is not
        _need_contact_secret(local_demo=False)
    run(url)
    workdir = Path(tempfile.mkdtemp(prefix="creditcycle-up-"))
    with local_stack(url) as st:
        logs = {name: workdir / f"{name}.log" for name in ("worker", "beat", "flower")}
        local = _settings().flower_basic_auth is None
        children = {
            "worker": st.start_worker(concurrency, log=logs["worker"]),
            "beat": st.start_beat(workdir, log=logs["beat"]),
            "flower": st._spawn(flower_command(flower_port, local), None, logs["flower"]),
        }
        click.echo(f"REDIS_URL={st.env['REDIS_URL']}\nDATABASE_URL={url}\n"
                   f"Flower: http://127.0.0.1:{flower_port}/  logs: {workdir}\n"
                   "Ctrl-C stops everything.")
        # SIGTERM (docker stop, systemd, kill) stops the children too, as Ctrl-C does.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            name, code = first_exit(children)
        except KeyboardInterrupt:
            return
        click.echo(f"error: {name} exited (code {code}); stopping the rest. "
                   f"The end of {logs[name]}:", err=True)
        for line in last_lines(logs[name]):
            click.echo(f"  {line}", err=True)
        sys.exit(1)


def _interrupt(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the stop short
    raise KeyboardInterrupt


def _masked(url: str) -> str:
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))


# ---------------------------------------------------------------- demo
@main.command()
@click.option("--users", type=click.IntRange(100, 1_000_000), default=10_000, show_default=True)
@click.option("--days", type=click.IntRange(1, 3650), default=120, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 16), default=2, show_default=True)
@click.option("--scenarios", is_flag=True, help="Run the example scenario files instead.")
def demo(users: int, days: int, concurrency: int, scenarios: bool) -> None:
    """Seed a portfolio, close months of business dates through real workers, summarise."""
    if scenarios:
        _scenario_demo(Path("examples"))
        return
    from drills.demo import run_demo

    run_demo(users=users, days=days, concurrency=concurrency)


def _scenario_demo(examples_dir: Path) -> None:
    from reports.summary import print_scenario_summary

    files = sorted(examples_dir.glob("*.json"))
    if not files:
        raise click.ClickException(f"no scenario files in {examples_dir}")
    for f in files:
        data: Any = load_file(f)
        print_scenario_summary(f.stem, data.get("description", ""), run_scenario(data))


# ---------------------------------------------------------------- benchmark
@main.command("bench")
@click.option("--users", type=click.IntRange(1000, 20_000_000),
              default=lambda: int(os.environ.get("USERS", "1000000")),
              show_default="$USERS or 1000000")
@click.option("--chunk-size", type=click.IntRange(100, 100_000), default=12_500,
              show_default=True)
@click.option("--repeats", type=click.IntRange(1, 9), default=3, show_default=True,
              help="Nights closed for the 1/10 and history runs (the median is kept).")
@click.option("--no-scaling", is_flag=True, help="Only the main run (no 1/10 and history runs).")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("bench-results"), show_default=True)
def bench_command(users: int, chunk_size: int, repeats: int, no_scaling: bool,
                  out_dir: Path) -> None:
    """Close one business date over a synthetic portfolio in PostgreSQL; compare with the floor."""
    from drills.bench import bench, summary_line

    runs = bench(users, scaling=not no_scaling, out_dir=out_dir, chunk_size=chunk_size,
                 repeats=repeats)
    click.echo(f"results: {out_dir / 'bench.json'}, plot: {out_dir / 'bench.png'}")
    click.echo(summary_line(runs[0]))


# ---------------------------------------------------------------- chaos
@main.command("chaos")
@click.option("--users", type=click.IntRange(100, 1_000_000), default=20_000, show_default=True)
@click.option("--days", type=click.IntRange(2, 365), default=60, show_default=True)
@click.option("--kills", type=click.IntRange(0, 10_000), default=60, show_default=True)
@click.option("--postgres-down", type=click.FloatRange(1, 300), default=12, show_default=True,
              help="Seconds PostgreSQL stays stopped.")
@click.option("--chunk-size", type=click.IntRange(10, 100_000), default=1000, show_default=True)
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("chaos-results"), show_default=True)
def chaos_command(users: int, days: int, kills: int, postgres_down: float, chunk_size: int,
                  out_dir: Path) -> None:
    """Close DAYS dates under SIGKILLs, restarts, outages and duplicates; compare with clean."""
    from drills.chaos import run_chaos

    outcome = run_chaos(users=users, days=days, kills=kills, pg_down_s=postgres_down,
                        chunk_size=chunk_size, workdir=out_dir,
                        say=lambda m: click.echo(m, err=True))
    for line in outcome.harm.log:
        click.echo(f"  {line}", err=True)
    for problem in outcome.problems[:10]:
        click.echo(f"  problem: {problem}", err=True)
    click.echo(outcome.table())
    click.echo(outcome.line())
    if outcome.double_takes or outcome.lost or outcome.imbalances or outcome.mismatches:
        sys.exit(1)


# ---------------------------------------------------------------- scenarios
@main.group()
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
        database_url = _url(database_url, create=True)
    try:
        data = load_file(file)
        if via == "celery":
            from drills.scenario_celery import run_scenario_via_celery

            result = run_scenario_via_celery(data, database_url=database_url)
        else:
            result = run_scenario(data, database_url=database_url)
    except ScenarioError as exc:
        click.echo(f"invalid scenario {file}: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    except InputError as exc:
        _fail(exc)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


# ---------------------------------------------------------------- explain
@main.command()
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

    first = _date(since, "--since")
    engine = make_engine(_url(database_url))
    try:
        click.echo(run(engine, user, lang=lang, since=first, config=load_config()), nl=False)
    except UnknownUser:
        _fail(InputError("USER", f"unknown user {user!r}"))
    finally:
        engine.dispose()


# ---------------------------------------------------------------- report
@main.command()
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
    from store.engine import make_engine
    from store.queries import is_closed_day, last_closed_day
    from workers.runtime import load_config

    engine = make_engine(_url(database_url))
    try:
        target = _date(day)
        with engine.connect() as conn:
            last = last_closed_day(conn)
            closed = target is not None and is_closed_day(conn, target)
        if last is None:
            _fail(InputError("--date", "no business date has been closed yet: close one with "
                                       "`creditcycle cycle run --wait`"))
        if target is None:
            target = last
        elif not closed:
            _fail(InputError("--date", f"{target} has not been closed; the last closed date "
                                       f"is {last}: report on it, or close {target} first"))
        if target is None:  # set above, or _fail has exited
            raise AssertionError("no date")
        page = build(engine, target, days, load_config())
    finally:
        engine.dispose()
    path = out or Path(f"report-{target.isoformat()}.html")
    path.write_text(page, encoding="utf-8")
    click.echo(f"wrote {path}", err=True)


if __name__ == "__main__":
    main()
