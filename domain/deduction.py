"""Repayment auto-deduction (SPEC section 2): what a user owes today, and who pays it.

A user's money pays all that user's loans: installments due on or before D,
oldest due date first, then loan id, then installment number; within one,
penalty, then interest, then principal. The sources (wallet, card, fund) are
tried in that order, each giving min(what it holds, what is still owed).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from domain import ledger
from domain.model import COMPONENTS, Installment, Journal, Loan, User

Allocations = dict[tuple[str, str], int]

CLOSE_OF_BUSINESS = "cob"


@dataclass(frozen=True, slots=True)
class Debt:
    installment: Installment
    component: str

    @property
    def amount(self) -> int:
        return self.installment.owed(self.component)


def days_late(due: date, on: date) -> int:
    return (on - due).days + 1


def loan_days_late(loan: Loan, on: date) -> int:
    oldest = loan.overdue_installments(on)
    if not oldest:
        return 0
    return days_late(min(i.due_date for i in oldest), on)


def due_debts(loans: Iterable[Loan], on: date, *, daytime: bool = False,
              late_after_days: int = 30) -> list[Debt]:
    """Everything due on or before ``on`` in collection order.

    A daytime attempt leaves out loans more than ``late_after_days`` late:
    those are collected only at close of business.
    """
    installments: list[Installment] = []
    for loan in loans:
        if not loan.live:
            continue
        if daytime and loan_days_late(loan, on) > late_after_days:
            continue
        installments.extend(loan.overdue_installments(on))
    installments.sort(key=lambda i: (i.due_date, i.loan_id, i.no))
    return [Debt(i, c) for i in installments for c in COMPONENTS if i.owed(c) > 0]


def total(debts: Sequence[Debt]) -> int:
    return sum(d.amount for d in debts)


def allocate(amount: int, debts: Sequence[Debt]) -> tuple[Allocations, int]:
    """Pay ``amount`` into ``debts`` in order; returns allocations and what is left."""
    allocations: Allocations = defaultdict(int)
    left = amount
    for debt in debts:
        if left <= 0:
            break
        take = min(left, debt.amount)
        if take <= 0:
            continue
        debt.installment.pay(debt.component, take)
        allocations[(debt.installment.loan_id, debt.component)] += take
        left -= take
    return dict(allocations), left


def principal_paid_by(allocations: Allocations) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for (loan_id, component), amount in allocations.items():
        if component == "principal":
            out[loan_id] += amount
    return dict(out)


def deduction_key(user_id: str, on: date, attempt: str, source: str) -> str:
    return f"deduct:{user_id}:{on.isoformat()}:{attempt}:{source}"


def card_key(user_id: str, on: date, attempt: str) -> str:
    return deduction_key(user_id, on, attempt, "card")


def take_from_balance(user: User, loans: Sequence[Loan], on: date, attempt: str,
                      source: str, available: int, *, daytime: bool,
                      late_after_days: int) -> Journal | None:
    """Take min(available, owed) from the wallet or fund into the user's debts."""
    debts = due_debts(loans, on, daytime=daytime, late_after_days=late_after_days)
    take = min(available, total(debts))
    if take <= 0:
        return None
    allocations, _ = allocate(take, debts)
    if source == "wallet":
        user.wallet -= take
    else:
        user.fund -= take
    user.dirty = True
    return ledger.build(deduction_key(user.id, on, attempt, source), on, f"deduct_{source}",
                        user.id, None, ledger.payment_postings(source, user.id, allocations))


def synthetic_card_token(user_id: str) -> str:
    """The card token of a made-up user (a scenario's, a seeded portfolio's): opaque like a
    platform's, never the user id, the same for the same id (the bench seeds it in SQL
    as ``'tok-' || left(encode(sha256(convert_to(id, 'UTF8')), 'hex'), 24)``)."""
    return "tok-" + hashlib.sha256(user_id.encode()).hexdigest()[:24]


def has_card(user: User) -> bool:
    """Whether the user has a linked card the bank can be asked to debit (its token)."""
    return bool(user.card_token)


def card_request_amount(user: User, loans: Sequence[Loan], on: date, *, daytime: bool,
                        late_after_days: int, has_pending: bool) -> int:
    """What to ask the bank for, or 0 when the card may not be debited now (no card
    linked, no consent, blocked as invalid, or an earlier debit still open)."""
    if not has_card(user) or not user.consent_card or user.card_blocked or has_pending:
        return 0
    return total(due_debts(loans, on, daytime=daytime, late_after_days=late_after_days))


def apply_card_debit(user: User, loans: Sequence[Loan], on: date, key: str, amount: int,
                     *, value_date: date, kind: str = "deduct_card") -> tuple[Journal, Allocations]:
    """Book money the bank debited; more than is owed now goes to the wallet."""
    debts = due_debts(loans, value_date)
    allocations, excess = allocate(amount, debts)
    if excess:
        user.wallet += excess
        user.dirty = True
    journal = ledger.build(key, on, kind, user.id, None,
                           ledger.payment_postings("card", user.id, allocations, excess))
    return journal, allocations


def apply_value_dated_debit(user: User, loans: Sequence[Loan], key: str, amount: int,
                            value_date: date, on: date,
                            accruals: Sequence[tuple[str, int, date, int, int, bool]],
                            daily_penalty: Callable[[int, int], int],
                            ) -> tuple[list[Journal], list[tuple[str, int, date, int, int, bool]]]:
    """Book a card debit that resolved late as if taken on ``value_date``.

    ``accruals`` are (loan, installment, day, principal base, amount, booked)
    for days on or after ``value_date``; penalty on the principal the debit
    paid is recomputed for those days and the difference reversed. Returns
    the journals and the accruals as they now stand.
    """
    by_inst = {(i.loan_id, i.no): i for x in loans for i in x.installments}
    before = {k: i.paid_principal for k, i in by_inst.items()}
    lifted: dict[tuple[str, int], int] = defaultdict(int)
    for loan_id, no, _day, _base, value, booked in accruals:
        inst = by_inst[(loan_id, no)]
        if booked:
            lift = min(value, inst.penalty - inst.paid_penalty)
            inst.penalty -= lift
            lifted[(loan_id, no)] += lift
    journal, _ = apply_card_debit(user, loans, on, key, amount, value_date=value_date)
    updated = []
    restored: dict[tuple[str, int], int] = defaultdict(int)
    for loan_id, no, day, base, value, booked in accruals:
        inst = by_inst[(loan_id, no)]
        paid_now = inst.paid_principal - before[(loan_id, no)]
        new_base = max(0, base - paid_now)
        new_value = daily_penalty(new_base, _rate_of(loans, loan_id))
        if booked:
            restored[(loan_id, no)] += new_value
        else:
            inst.pending_penalty = max(0, inst.pending_penalty - value + new_value)
        inst.dirty = True
        updated.append((loan_id, no, day, new_base, new_value, booked))
    per_loan: dict[str, int] = defaultdict(int)
    for k, lift in lifted.items():
        inst = by_inst[k]
        inst.penalty += restored[k]
        per_loan[k[0]] += lift - restored[k]
    journals = [journal]
    for loan_id, reversed_amount in sorted(per_loan.items()):
        if reversed_amount:
            journals.append(ledger.build(
                f"{key}:penalty_reversal:{loan_id}", on, "penalty_reversal", user.id, loan_id,
                [(ledger.receivable(loan_id, "penalty"), -reversed_amount),
                 (ledger.PENALTY_INCOME, reversed_amount)]))
    return journals, updated


def _rate_of(loans: Sequence[Loan], loan_id: str) -> int:
    return next(x.annual_rate_bp for x in loans if x.id == loan_id)
