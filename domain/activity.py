"""Rolling per-user counters of activity and risk signals (SPEC section 5).

A night never re-reads 90 days of events: each event folds into a small
per-user record when it arrives, and old days fall out of the windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

ACTIVITY_KINDS = frozenset({"payment", "transfer", "red_packet", "life_payment",
                            "wealth_purchase"})
CAPACITY_KINDS = frozenset({"job_loss", "provident_fund_stopped"})
CHURN_KINDS = frozenset({"phone_change", "card_change"})
INQUIRY_KIND = "multi_borrowing_inquiry"
FLAGGED_KIND = "flagged_contact"
RISK_KINDS = CAPACITY_KINDS | CHURN_KINDS | {INQUIRY_KIND, FLAGGED_KIND, "external_overdue"}

ACTIVITY_WINDOW = 90
INQUIRY_WINDOW = 30
CHURN_WINDOW = 90
CAPACITY_WINDOW = 90


@dataclass(slots=True)
class Activity:
    active_days: list[date] = field(default_factory=list)
    inquiries: list[date] = field(default_factory=list)
    churn: list[date] = field(default_factory=list)
    capacity_decline_on: date | None = None
    flagged_contacts: int = 0

    def to_json(self) -> dict[str, object]:
        ordinal = date.toordinal
        return {
            "days": list(map(ordinal, self.active_days)),
            "inq": list(map(ordinal, self.inquiries)),
            "churn": list(map(ordinal, self.churn)),
            "cap": self.capacity_decline_on.toordinal() if self.capacity_decline_on else None,
            "flag": self.flagged_contacts,
        }

    @classmethod
    def from_json(cls, data: dict[str, object] | None) -> Activity:
        if not data:
            return cls()
        cap = data.get("cap")
        flag = data.get("flag") or 0
        if not isinstance(flag, int):
            raise AssertionError("activity 'flag' is not an integer")
        return cls(_days(data, "days"), _days(data, "inq"), _days(data, "churn"),
                   date.fromordinal(int(cap)) if isinstance(cap, int) else None, flag)


def _days(data: dict[str, object], key: str) -> list[date]:
    """The days of a list of ordinals (a chunk reads thousands: an empty one costs
    nothing)."""
    raw = data.get(key)
    if not raw:
        return []
    if not isinstance(raw, list):
        raise AssertionError(f"activity {key!r} is not a list")
    return list(map(_day, raw))


@lru_cache(maxsize=4096)
def _day(ordinal: int) -> date:
    """Days repeat across a chunk's users (a few months of them): convert each once."""
    return date.fromordinal(int(ordinal))


@lru_cache(maxsize=1024)
def first_day(on: date, width: int) -> date:
    """The first day of the window of ``width`` days ending on ``on`` (a batch's events
    share a few dates: computed once each)."""
    return on - timedelta(days=width - 1)


def _window(days: list[date], on: date, width: int) -> list[date]:
    if not days:
        return []
    first = first_day(on, width)
    return [d for d in days if d >= first]


def fold(activity: Activity, kind: str, on: date) -> Activity:
    """Account one event of ``kind`` on ``on``; returns the same record, pruned."""
    if kind in ACTIVITY_KINDS and on not in activity.active_days:
        activity.active_days = sorted([*activity.active_days, on])
    elif kind == INQUIRY_KIND:
        activity.inquiries = sorted([*activity.inquiries, on])
    elif kind in CHURN_KINDS:
        activity.churn = sorted([*activity.churn, on])
    elif kind in CAPACITY_KINDS:
        activity.capacity_decline_on = max(on, activity.capacity_decline_on or on)
    elif kind == FLAGGED_KIND:
        activity.flagged_contacts += 1
    return prune(activity, on)


def prune(activity: Activity, on: date) -> Activity:
    activity.active_days = _window(activity.active_days, on, ACTIVITY_WINDOW)
    activity.inquiries = _window(activity.inquiries, on, INQUIRY_WINDOW)
    activity.churn = _window(activity.churn, on, CHURN_WINDOW)
    return activity


def count_between(days: list[date], first: date, on: date) -> int:
    """The days of ``days`` from ``first`` (a window's ``first_day``) through ``on``: an
    event recorded during the night of ``on`` that occurred the day after must not count
    in that night's steps (SPEC 13). A chunk works out ``first`` once for its users."""
    if not days:
        return 0
    return len([d for d in days if first <= d <= on])


def active_days(activity: Activity, on: date) -> int:
    return count_between(activity.active_days, first_day(on, ACTIVITY_WINDOW), on)


def inquiries(activity: Activity, on: date) -> int:
    return count_between(activity.inquiries, first_day(on, INQUIRY_WINDOW), on)


def churn(activity: Activity, on: date) -> int:
    return count_between(activity.churn, first_day(on, CHURN_WINDOW), on)


def capacity_declined(activity: Activity, on: date) -> bool:
    cap = activity.capacity_decline_on
    return cap is not None and 0 <= (on - cap).days < CAPACITY_WINDOW
