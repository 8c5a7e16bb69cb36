"""The beat schedule: one declarative table, in the business time zone.

Beat only triggers: every entry passes at most a time of day, and the tasks
re-derive everything else (which date, which chunks) from the database.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from celery.schedules import crontab

# name, task, schedule, kwargs
TABLE: tuple[tuple[str, str, Any, dict[str, Any]], ...] = (
    ("close-of-business", "creditcycle.cycle.run", crontab(minute="30", hour="0"), {}),
    ("deduct-morning", "creditcycle.deduct.attempt", crontab(minute="0", hour="6"),
     {"at": "06:00"}),
    ("deduct-afternoon", "creditcycle.deduct.attempt", crontab(minute="0", hour="17"),
     {"at": "17:00"}),
    ("send-reminders", "creditcycle.notifications.dispatch",
     crontab(minute="*/15", hour="8-20"), {}),
    ("reconcile-pending-debits", "creditcycle.reconcile.pending", crontab(minute="*/10"), {}),
    ("expire-applications", "creditcycle.applications.expire", crontab(minute="5"), {}),
    ("cycle-watchdog", "creditcycle.cycle.watchdog", crontab(minute="*/5"), {}),
    ("prove-whole-ledger", "creditcycle.ledger.prove",
     crontab(minute="0", hour="3", day_of_week="sun"), {}),
)


FAST = ("close-of-business", "cycle-watchdog")


def beat_schedule() -> dict[str, dict[str, Any]]:
    """The table as Celery wants it. ``CREDITCYCLE_BEAT_FAST=N`` (drills, tests) schedules
    only the close and the watchdog, every N seconds, so a catch-up starts at once and
    nothing tied to the wall clock (daytime attempts) mixes into the drill."""
    fast = os.environ.get("CREDITCYCLE_BEAT_FAST")
    out = {}
    for name, task, when, kwargs in TABLE:
        if fast and name not in FAST:
            continue
        schedule = timedelta(seconds=float(fast)) if fast else when
        out[name] = {"task": task, "schedule": schedule, "kwargs": kwargs,
                     "options": {"expires": 3600}}
    return out
