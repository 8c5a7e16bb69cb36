"""The deduction waterfall of one attempt (SPEC section 2), for a batch of users.

Wallet first, then the card, then the fund; each gives min(what it holds, what
is still owed). The card is asked only when one is linked (the user's card token),
with the user's consent, while it is not blocked and while no earlier debit of the
user is unresolved; a card the bank calls invalid is blocked. A debit still
pending stops the waterfall before the fund, and the fund pays at most its daily
redemption cap.

The functions take users and loans already loaded (and locked) by the
caller; they change them in place (balances, installments) and return what
the caller writes: journals, card intents, the bank's answers per debit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from domain.bank import DEBITED, FAILED, PENDING
from domain.deduction import apply_card_debit, card_key, card_request_amount, take_from_balance
from domain.model import Journal, Loan, User

CARD_INVALID = "card_invalid"


@dataclass(frozen=True, slots=True)
class Attempt:
    """Which attempt of which day: the close of business or a daytime one (whose
    debts leave out the loans more than ``late_after_days`` late)."""

    on: date
    code: str
    daytime: bool
    late_after_days: int


@dataclass(frozen=True, slots=True)
class CardIntent:
    """A card debit to ask for, committed before the bank is called."""

    key: str
    user_id: str
    day: date
    attempt: str
    amount: int
    card_token: str  # the card the debit is of, fixed with its intent


@dataclass(frozen=True, slots=True)
class CardAnswer:
    """What the bank said about one debit."""

    status: str
    taken: int = 0
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DebitUpdate:
    """A debit row's new state (resolved on the day, unless still pending)."""

    key: str
    status: str
    taken: int
    reason: str | None
    resolved_on: date | None


def wallet_may_pay(user: User) -> bool:
    """The wallet pays with the user's consent, when it holds money."""
    return user.consent_wallet and user.wallet > 0


def fund_may_pay(user: User) -> bool:
    """The fund pays with the user's consent, when it holds money."""
    return user.consent_fund and user.fund > 0


def fund_room(daily_cap: int, redeemed_today: int) -> int:
    """What the fund may still redeem today under its daily cap."""
    return max(0, daily_cap - redeemed_today)


def wallet_and_card(users: Mapping[str, User], loans_by_user: Mapping[str, Sequence[Loan]],
                    user_ids: Iterable[str], pending: set[str], attempt: Attempt
                    ) -> tuple[list[Journal], list[CardIntent]]:
    """The first half of the waterfall: what the wallets pay, then what to ask each card
    for (``pending``: users with a debit not yet resolved, whose card is not asked)."""
    journals, intents = [], []
    for uid in user_ids:
        user, mine = users[uid], loans_by_user.get(uid, [])
        if wallet_may_pay(user):
            j = take_from_balance(user, mine, attempt.on, attempt.code, "wallet", user.wallet,
                                  daytime=attempt.daytime,
                                  late_after_days=attempt.late_after_days)
            if j:
                journals.append(j)
        amount = card_request_amount(user, mine, attempt.on, daytime=attempt.daytime,
                                     late_after_days=attempt.late_after_days,
                                     has_pending=uid in pending)
        if amount > 0 and user.card_token:
            intents.append(CardIntent(card_key(uid, attempt.on, attempt.code), uid,
                                      attempt.on, attempt.code, amount, user.card_token))
    return journals, intents


def debited(answer: CardAnswer) -> bool:
    """Whether the bank took money on this debit."""
    return answer.status == DEBITED and answer.taken > 0


def card_answers(users: Mapping[str, User], loans_by_user: Mapping[str, Sequence[Loan]],
                 intents: Iterable[tuple[str, str]], answers: Mapping[str, CardAnswer],
                 on: date) -> tuple[list[Journal], list[DebitUpdate]]:
    """Book the bank's answers to open intents (``(key, user)``): money debited pays the
    user's debts (any excess to the wallet); a card the bank calls invalid is blocked."""
    journals, updates = [], []
    for key, uid in intents:
        answer, user = answers[key], users[uid]
        if debited(answer):
            j, _ = apply_card_debit(user, loans_by_user.get(uid, []), on, key, answer.taken,
                                    value_date=on)
            journals.append(j)
        elif answer.status == FAILED and answer.reason == CARD_INVALID:
            block_card(user)
        updates.append(DebitUpdate(key, answer.status, answer.taken, answer.reason,
                                   on if answer.status != PENDING else None))
    return journals, updates


def block_card(user: User) -> None:
    """A card the bank called invalid is not asked again until the user changes it."""
    user.card_blocked = True
    user.dirty = True


def unblock_card(user: User) -> None:
    """The user linked another card: it may be asked again."""
    user.card_blocked = False
    user.dirty = True


def fund_redemptions(users: Mapping[str, User], loans_by_user: Mapping[str, Sequence[Loan]],
                     funded: Iterable[str], redeemed: Mapping[str, int], daily_cap: int,
                     attempt: Attempt) -> list[Journal]:
    """The last of the waterfall: what each fund pays (users with no debit pending),
    within what the daily cap leaves after today's earlier redemptions."""
    journals = []
    for uid in funded:
        user = users[uid]
        room = fund_room(daily_cap, redeemed.get(uid, 0))
        j = take_from_balance(user, loans_by_user.get(uid, []), attempt.on, attempt.code,
                              "fund", min(user.fund, room), daytime=attempt.daytime,
                              late_after_days=attempt.late_after_days)
        if j:
            journals.append(j)
    return journals
