"""The bank channel (SPEC section 2): its value types, its statuses and its protocol.

A debit carries an amount and an idempotency key and comes back debited
(possibly partial), failed (insufficient_funds, card_invalid, outage) or
pending (the outcome is unknown: the money may have moved). Asking about a
key the bank never saw answers unknown. Asking twice with the same key never
takes twice: the bank keeps the first outcome. Calls are batched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
    key: str
    user_id: str
    amount: int
    day: date


@dataclass(frozen=True, slots=True)
class DebitResult:
    key: str
    status: str
    taken: int = 0
    reason: str | None = None


class BankChannel(Protocol):
    def debit(self, requests: Sequence[DebitRequest]) -> list[DebitResult]: ...

    def query(self, keys: Sequence[str]) -> list[DebitResult]: ...
