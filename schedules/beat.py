"""The beat schedule: one declarative table, in the business time zone.

Beat only triggers: every entry passes at most a time of day, and the tasks
re-derive everything else (which date, which chunks) from the database.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler
from celery.schedules import crontab

STATE_ENV = "CREDITCYCLE_STATE_DIR"
SCHEDULE_FILE = "celerybeat-schedule"

# name, task, schedule, kwargs
TABLE: tuple[tuple[str, str, Any, dict[str, Any]], ...] = (
    ("close-of-business", "creditcycle.cycle.run", crontab(minute="30", hour="0"), {}),
    ("deduct-morning", "creditcycle.deduct.attempt", crontab(minute="0", hour="6"),
     {"at": "06:00"}),
    ("deduct-afternoon", "creditcycle.deduct.attempt", crontab(minute="0", hour="17"),
     {"at": "17:00"}),
    # The relays (workers/relays), all day: reminders go only inside their window
    # (`reminder_window`) and expire past it, so the schedule does not repeat the window.
    ("relay-notifications", "creditcycle.relay.notifications", crontab(minute="*"), {}),
    ("relay-agencies", "creditcycle.relay.agencies", crontab(minute="*"), {}),
    ("relay-bureau", "creditcycle.relay.bureau", crontab(minute="*"), {}),
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
    from workers import settings  # the one settings object (it imports no other worker)

    fast = settings.get().beat_fast
    out = {}
    for name, task, when, kwargs in TABLE:
        if fast and name not in FAST:
            continue
        schedule = timedelta(seconds=float(fast)) if fast else when
        out[name] = {"task": task, "schedule": schedule, "kwargs": kwargs,
                     "options": {"expires": 3600}}
    return out


def state_dir() -> Path:
    """Where beat keeps its schedule file: ``CREDITCYCLE_STATE_DIR``, else
    ``$XDG_STATE_HOME/creditcycle``, else ``~/.local/state/creditcycle``; never the
    working directory, which is read-only in the image."""
    from workers import settings

    if (configured := settings.get().state_dir) is not None:
        return configured
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "creditcycle"


def schedule_file() -> str:
    return str(state_dir() / SCHEDULE_FILE)


class StateDirScheduler(PersistentScheduler):  # type: ignore[misc]
    """Celery's file-backed scheduler (it remembers when each entry last ran, so a beat
    restarted after 00:30 still starts that night's close) whose directory is made first."""

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()
