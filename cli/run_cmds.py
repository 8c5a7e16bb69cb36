"""The processes: worker, beat, flower, up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from cli.common import EXIT_INVALID, env_settings, fail, need_drills, url_or_exit
from domain.commands import InputError
from workers import settings

LOCAL_DEMO = click.option("--local-demo", is_flag=True,
                          help="Allow running without CREDITCYCLE_CONTACT_SECRET (a local "
                               "demo: the development secret is used) and, for a worker, "
                               "without CREDITCYCLE_BANK_URL (the simulator in the database).")


@click.command()
@click.option("-c", "--concurrency", type=click.IntRange(1, 64), default=2, show_default=True)
@LOCAL_DEMO
def worker(concurrency: int, local_demo: bool) -> None:
    """Run a Celery worker on the cycle queue (needs REDIS_URL, CREDITCYCLE_CONTACT_SECRET,
    CREDITCYCLE_BANK_URL and CREDITCYCLE_BANK_SECRET)."""
    _need_redis()
    _need_contact_secret(local_demo)
    _need_bank(local_demo)
    # S606: becomes the process it runs; the command is fixed here
    os.execvp(sys.executable, [sys.executable, "-m", "celery", "-A", "workers.celery_app",  # noqa: S606
                               "worker", "-Q", "cycle", "-c", str(concurrency), "-l", "INFO"])


@click.command()
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


@click.command()
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
    given = env_settings().flower_basic_auth
    auth = given.get_secret_value() if given is not None else ""
    if ":" not in auth and not local_demo:
        raise click.UsageError("Flower refuses to start without credentials: set "
                               "FLOWER_BASIC_AUTH=user:password (or --local-demo)")
    # No --basic-auth: Flower reads FLOWER_BASIC_AUTH from the environment it inherits, so
    # the credentials are not on a command line that any local user can read (ps).
    return [sys.executable, "-m", "celery", "-A", "workers.celery_app", "flower",
            "--address=127.0.0.1", f"--port={port}"]


def _need_redis() -> None:
    if not env_settings().redis_url:
        raise click.UsageError("set REDIS_URL (or use `creditcycle up`, which starts one)")


def _need_contact_secret(local_demo: bool) -> None:
    """A real deployment refuses to start without the secret that keys contact tokens; a
    local demo (``--local-demo``, ``up`` with its private Redis) uses the development one."""
    if env_settings().contact_secret is not None:
        return
    if not local_demo:
        fail(InputError("CREDITCYCLE_CONTACT_SECRET", "is required outside a local demo "
                         "(it keys the contact tokens sent to agencies): set it to a long "
                         "random value, or pass --local-demo"))
    settings.export("CREDITCYCLE_CONTACT_SECRET", settings.LOCAL_DEMO_CONTACT)


def _need_bank(local_demo: bool) -> None:
    """A worker refuses to start without a bank (CREDITCYCLE_BANK_URL and its secret); a
    local demo without one debits the simulator kept in the database."""
    from workers.bank import refusal

    env = env_settings()
    why = refusal(env)
    if why is None:
        return
    if not local_demo or env.bank_url:
        fail(InputError(why.field, why.message))
    settings.export("CREDITCYCLE_LOCAL_BANK", "1")


@click.command()
@click.option("--database-url", default=None)
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--flower-port", type=click.IntRange(1, 65535), default=5555, show_default=True)
def up(database_url: str | None, concurrency: int, flower_port: int) -> None:
    """Everything locally: Redis (private unless REDIS_URL), worker, beat and Flower."""
    need_drills("up without REDIS_URL")
    from drills.stack import first_exit, last_lines, local_stack, redis_answers
    from store.engine import migrate as run

    url = url_or_exit(database_url, create=True)
    given = env_settings().redis_url
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
        local = env_settings().flower_basic_auth is None
        children: dict[str, subprocess.Popen[Any]] = {
            "worker": st.start_worker(concurrency, log=logs["worker"]),
            "beat": st.start_beat(workdir, log=logs["beat"]),
            "flower": st._spawn(flower_command(flower_port, local), None, logs["flower"]),
        }
        if st.bank is not None and st.bank.proc is not None:
            children["bank-sim"] = st.bank.proc
            logs["bank-sim"] = Path(st.bank.log_path)
        # SIGTERM (docker stop, systemd, kill) stops the children too, as Ctrl-C does;
        # in place before the line that says so, which is what a supervisor waits for.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            click.echo(f"REDIS_URL={st.env['REDIS_URL']}\nDATABASE_URL={url}\n"
                       f"CREDITCYCLE_BANK_URL={st.env.get('CREDITCYCLE_BANK_URL', '')}\n"
                       f"Flower: http://127.0.0.1:{flower_port}/  logs: {workdir}\n"
                       "Ctrl-C stops everything.")
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
