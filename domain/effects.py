"""What an event from outside the cycle changes for its user (SPEC sections 2, 4, 6, 8).

Money in credits the wallet or the fund through a journal; a hold or its end
stops or resumes collection on a loan; a new card may be asked again; any
other signal folds into the user's rolling activity and makes the limit's
recalculation due that day. Repayments and draws have their own modules
(``prepayment``, ``lending``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain import ledger, lending
from domain.activity import Activity, fold
from domain.flags import recalc_due
from domain.model import Journal, User
from domain.waterfall import unblock_card

WALLET_TOPUP, FUND_DEPOSIT = "wallet_topup", "fund_deposit"
COLLECTION_HOLD = "collection_hold"


def money_in(user: User, kind: str, key: str, amount: int, on: date) -> Journal:
    """Money into the wallet or the fund: the balance grows, and the journal that says so."""
    if kind == WALLET_TOPUP:
        user.wallet += amount
        account = ledger.wallet(user.id)
    elif kind == FUND_DEPOSIT:
        user.fund += amount
        account = ledger.fund(user.id)
    else:
        raise ValueError(f"not money into the wallet or the fund: {kind!r}")
    user.dirty = True
    return lending.external_in(f"{kind}:{key}", user.id, account, amount, on, kind)


def holds_collection(kind: str) -> bool:
    """Whether a loan event puts its loan on hold (else it lifts the hold)."""
    return kind == COLLECTION_HOLD


def card_changed(user: User) -> None:
    """The user linked another card: a card blocked as invalid may be asked again."""
    unblock_card(user)


@dataclass(frozen=True, slots=True)
class Signal:
    """A user's activity after a signal, and the date the limit is recalculated."""

    activity: Activity
    next_recalc: date


def signal(activity: Activity, next_recalc: date | None, kind: str, on: date) -> Signal:
    """A signal folds into the rolling activity; the recalculation is due on ``on``."""
    return Signal(fold(activity, kind, on), recalc_due(next_recalc, on))
