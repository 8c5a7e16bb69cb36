"""Loan applications (SPEC 12): apply, wait for a video audit, then disburse or not.

Pure decisions over plain values: the caller reads the application and the
applicant's eligibility, asks here what happens, and writes the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

AWAITING_AUDIT = "awaiting_audit"
DISBURSED = "disbursed"
REJECTED = "rejected"
CANCELLED = "cancelled"
REFUSED = "refused"
STATUSES = (AWAITING_AUDIT, DISBURSED, REJECTED, CANCELLED, REFUSED)

AUDIT_HOURS = "AUDIT_HOURS"
APPLICATION_EXPIRED = "APPLICATION_EXPIRED"
DUPLICATE_APPLICATION = "DUPLICATE_APPLICATION"
UNKNOWN_APPLICATION = "UNKNOWN_APPLICATION"
APPLICATION_CLOSED = "APPLICATION_CLOSED"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an apply or an audit did: the application's new status (None: unchanged)
    and the refusal code, if the apply or audit itself was refused."""

    status: str | None
    reason: str | None = None

    @property
    def disburse(self) -> bool:
        return self.status == DISBURSED


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def in_audit_hours(at: datetime, audit_hours: Sequence[str], zone: str) -> bool:
    """At or after the start and before the end, in the business zone's local time
    ("24:00" is the end of the day)."""
    local = at.astimezone(ZoneInfo(zone))
    minute = local.hour * 60 + local.minute  # the bounds are whole minutes
    start, end = audit_hours
    return _minutes(start) <= minute < _minutes(end)


def expires_at(submitted_at: datetime, audit_window_hours: int) -> datetime:
    """The instant an application still awaiting audit is cancelled."""
    return submitted_at + timedelta(hours=audit_window_hours)


def expired(submitted_at: datetime, now: datetime, audit_window_hours: int) -> bool:
    """Cancelled once the window has passed: at or after ``submitted_at`` + the hours."""
    return now >= expires_at(submitted_at, audit_window_hours)


def on_apply(duplicate: bool, ineligible: str | None) -> Outcome:
    """An ``apply``: a loan id already used refuses it and changes nothing else; an
    ineligible applicant's application is stored as refused; otherwise it waits."""
    if duplicate:
        return Outcome(None, DUPLICATE_APPLICATION)
    if ineligible is not None:
        return Outcome(REFUSED, ineligible)
    return Outcome(AWAITING_AUDIT)


def on_audit(status: str | None, submitted_at: datetime | None, at: datetime, outcome: str,
             ineligible: str | None, *, audit_hours: Sequence[str], audit_window_hours: int,
             zone: str) -> Outcome:
    """An ``audit`` at ``at`` of an application in ``status`` (None: no such application).

    Expiry wins over the audit hours: an audit at or after the deadline is refused
    APPLICATION_EXPIRED and the application is cancelled, whether or not the hourly
    job has run. Outside the hours the audit is refused and the application waits.
    ``ineligible`` is the eligibility refusal on the audit's date (used if approved).
    """
    if status is None or submitted_at is None:
        return Outcome(None, UNKNOWN_APPLICATION)
    if status == CANCELLED or (status == AWAITING_AUDIT
                               and expired(submitted_at, at, audit_window_hours)):
        return Outcome(CANCELLED if status == AWAITING_AUDIT else None, APPLICATION_EXPIRED)
    if status != AWAITING_AUDIT:
        return Outcome(None, APPLICATION_CLOSED)
    if not in_audit_hours(at, audit_hours, zone):
        return Outcome(None, AUDIT_HOURS)
    if outcome == "rejected":
        return Outcome(REJECTED)
    if ineligible is not None:
        return Outcome(REFUSED, ineligible)
    return Outcome(DISBURSED)


def local_instant(day: date, at: time, zone: str) -> datetime:
    """The aware instant of local time ``at`` on business date ``day``."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone))
