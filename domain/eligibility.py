"""Who may borrow on a date (SPEC 12): of age, verified, identity valid, not closed or frozen.

The checks run in the SPEC's order and the first failure is the reason, so an
application, an approval and a draw are refused alike and ``explain`` can say
what to do about the one reason that counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
OVERDUE_FREEZE = "OVERDUE_FREEZE"
AGE_OUT_OF_RANGE = "AGE_OUT_OF_RANGE"
IDENTITY_UNVERIFIED = "IDENTITY_UNVERIFIED"
IDENTITY_EXPIRED = "IDENTITY_EXPIRED"
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
REASONS = (ACCOUNT_CLOSED, OVERDUE_FREEZE, AGE_OUT_OF_RANGE, IDENTITY_UNVERIFIED,
           IDENTITY_EXPIRED, LIMIT_EXCEEDED)


@dataclass(frozen=True, slots=True)
class Applicant:
    """What eligibility needs to know of a user on a date, read by ``store.users``.

    ``overdue`` is true while a loan of the user is overdue beyond grace (status
    ``overdue``); ``available`` is the limit less the principal still owed.
    """

    user_id: str
    closed: bool
    overdue: bool
    birth_date: date | None
    identity_verified: bool
    identity_expires: date | None
    available: int


def age_on(birth: date, on: date) -> int:
    """Age in whole years on ``on``: one more on each birthday.

    Someone born on 29 February is a year older on 1 March of a common year
    (the day after 28 February), never on 28 February.
    """
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def identity_expired(expires: date | None, on: date) -> bool:
    """An identity document is valid through its expiry date and expired the day after."""
    return expires is not None and expires < on


def refusal(who: Applicant, principal: int, on: date, eligible_age: Sequence[int]) -> str | None:
    """The first reason ``who`` may not borrow ``principal`` on ``on``, or None.

    A user whose birth date the platform never sent is not refused for age
    (scenario users and books imported without one); every other check applies.
    """
    if who.closed:
        return ACCOUNT_CLOSED
    if who.overdue:
        return OVERDUE_FREEZE
    low, high = eligible_age
    if who.birth_date is not None and not low <= age_on(who.birth_date, on) <= high:
        return AGE_OUT_OF_RANGE
    if not who.identity_verified:
        return IDENTITY_UNVERIFIED
    if identity_expired(who.identity_expires, on):
        return IDENTITY_EXPIRED
    if principal > who.available:
        return LIMIT_EXCEEDED
    return None


def refusals(applicants: Sequence[tuple[Applicant, int]], on: date,
             eligible_age: Sequence[int]) -> list[str | None]:
    """``refusal`` for a batch of (applicant, principal) pairs, in order."""
    return [refusal(who, principal, on, eligible_age) for who, principal in applicants]
