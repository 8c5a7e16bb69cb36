"""The business calendar: the one time zone, the clock and the business date.

A business date is a date in the deployment's time zone (``time_zone`` of the
product configuration). The clock is the wall clock unless ``CREDITCYCLE_NOW``
sets it (an ISO 8601 instant; without an offset it is read in the deployment's
time zone): drills and tests set it so that the dates they close have ended,
and the check that refuses a date that has not ended stays on for them too.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.commands import InputError
from domain.config import ConfigError

CLOCK_VARIABLE = "CREDITCYCLE_NOW"


def now(time_zone: str) -> datetime:
    """The current instant in ``time_zone``: the wall clock or ``CREDITCYCLE_NOW``."""
    from workers import settings  # the one settings object (it imports no other worker)

    zone = ZoneInfo(time_zone)
    fixed = settings.get().now
    if not fixed:
        return datetime.now(zone)
    try:
        at = datetime.fromisoformat(fixed)
    except ValueError:
        raise ConfigError(CLOCK_VARIABLE, f"{fixed!r} is not an ISO 8601 date and time, "
                                          "e.g. 2026-03-02T00:30") from None
    return at.replace(tzinfo=zone) if at.tzinfo is None else at.astimezone(zone)


def business_today(time_zone: str) -> date:
    """The business date that is running now (it has not ended)."""
    return now(time_zone).date()


def last_ended(time_zone: str) -> date:
    """The newest business date that has ended: the default date to close."""
    return business_today(time_zone) - timedelta(days=1)


def require_ended(day: date, time_zone: str, field: str) -> None:
    """Refuse a business date that has not ended in ``time_zone``, naming ``field``."""
    at = now(time_zone)
    if day >= at.date():
        raise InputError(field, f"business date {day} has not ended in {time_zone} (it is "
                                f"{at:%Y-%m-%d %H:%M} there); the latest date that can close "
                                f"is {at.date() - timedelta(days=1)}")


def require_not_future(day: date, time_zone: str, field: str) -> None:
    """Refuse a business date that has not begun in ``time_zone``, naming ``field``."""
    at = now(time_zone)
    if day > at.date():
        raise InputError(field, f"business date {day} is in the future in {time_zone} (it is "
                                f"{at:%Y-%m-%d %H:%M} there)")
