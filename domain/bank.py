"""The bank channel (SPEC section 2): its value types, its statuses and its protocol.

A debit carries an amount and an idempotency key and comes back debited
(possibly partial), failed (insufficient_funds, card_invalid, outage) or
pending (the outcome is unknown: the money may have moved). Asking about a
key the bank never saw answers unknown. Asking twice with the same key never
takes twice: the bank keeps the first outcome. Calls are batched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final, Protocol

DEBITED: Final = "debited"
FAILED: Final = "failed"
PENDING: Final = "pending"
UNKNOWN: Final = "unknown"
STATUSES: Final = (DEBITED, FAILED, PENDING, UNKNOWN)
FAILURE_REASONS: Final = ("insufficient_funds", "card_invalid", "outage")


class ChannelTimeout(Exception):
    """The channel did not answer; the outcome of the calls is unknown."""


class BankRefused(Exception):
    """The bank refused the call itself (an HTTP 4xx such as 401): the deployment is
    misconfigured (wrong secret, wrong URL, another protocol version). Nothing is known
    about the debits of that call; they keep their intent and are asked about again."""


@dataclass(frozen=True, slots=True)
class DebitRequest:
    """A debit of ``amount`` from the card ``card_token`` (the platform's opaque token of
    the user's linked card, sent to the bank) of user ``user_id``, on business date ``day``."""

    key: str
    user_id: str
    amount: int
    day: date
    card_token: str = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class DebitResult:
    key: str
    status: str
    taken: int = 0
    reason: str | None = None


class BankChannel(Protocol):
    def debit(self, requests: Sequence[DebitRequest]) -> list[DebitResult]: ...

    def query(self, keys: Sequence[str]) -> list[DebitResult]: ...


def query_defect(result: DebitResult, amount: int) -> str | None:
    """Why a query's answer about a debit of ``amount`` must not be applied, or None.

    ``/debits/query`` carries keys only, so the client cannot hold its answer to the
    amount asked; the intent can: a ``taken`` above it, below 0 or nothing for a
    ``debited``, a ``failed`` that took money or gives no known reason, an ``unknown``
    or ``pending`` carrying money or a reason are the bank's answers out of the protocol.
    """
    if result.status not in STATUSES:
        return f"status {result.status!r} is not one of {', '.join(STATUSES)}"
    if result.status == DEBITED:
        if not 1 <= result.taken <= amount:
            return f"taken {result.taken} is outside 1..{amount} (the amount debited)"
        return "a debited result carries a reason" if result.reason is not None else None
    if result.taken != 0:
        return f"a {result.status} result took {result.taken}"
    if result.status == FAILED:
        ok = result.reason in FAILURE_REASONS
        return None if ok else f"a failed result with reason {result.reason!r}"
    return f"a {result.status} result carries a reason" if result.reason is not None else None
