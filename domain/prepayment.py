"""Prepayment from outside (SPEC section 2, `repay`).

It pays, in order: everything due; the current period's interest accrued to
the payment date; principal. A partial prepayment re-amortises what is left
over the same due dates; paying it all closes the loan. Money beyond all that
is owed goes to the user's wallet. A payment on a written-off loan is a
recovery.

A prepayment never rewrites history: it is refused (``refusal``) when dated on
or before the last closed business date, before a loan's disbursement or
before the loan's last prepayment, so no installment already paid or past due
is ever re-amortised.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from domain import ledger
from domain.deduction import Allocations, allocate, due_debts
from domain.model import COMPONENTS, PAID_OFF, WRITTEN_OFF, Installment, Journal, Loan, User
from domain.schedule import period_interest, split_principal

UNKNOWN_LOAN = "UNKNOWN_LOAN"
DATE_CLOSED = "DATE_CLOSED"
BEFORE_DISBURSEMENT = "BEFORE_DISBURSEMENT"
BEFORE_LAST_REPAYMENT = "BEFORE_LAST_REPAYMENT"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a repayment is refused: a code, the input field it is about, and a sentence."""

    code: str
    field: str
    message: str


class RepayRefused(ValueError):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"{refusal.field}: {refusal.message}")
        self.refusal = refusal


@dataclass(frozen=True, slots=True)
class RepayOutcome:
    journals: tuple[Journal, ...]
    allocations: Allocations
    excess: int


def _current_installment(loan: Loan, on: date) -> Installment | None:
    future = [i for i in loan.installments if i.due_date > on]
    return min(future, key=lambda i: i.due_date) if future else None


def _principal_days(loan: Loan, cur: Installment, on: date, principal: int) -> int:
    if loan.accrual_no == cur.no and loan.accrual_anchor is not None:
        return loan.accrual_acc + principal * (on - loan.accrual_anchor).days
    return principal * (on - cur.period_start).days


def accrued_interest(loan: Loan, on: date) -> int:
    """Interest of the current period accrued to ``on`` and not yet paid."""
    cur = _current_installment(loan, on)
    if cur is None:
        return 0
    days = (cur.due_date - cur.period_start).days
    total = period_interest(loan.annual_rate_bp,
                            _principal_days(loan, cur, on, loan.remaining_principal()), days)
    return max(0, total - cur.paid_interest)


def _pay_ahead(loan: Loan, on: date, left: int, allocations: Allocations) -> tuple[int, int]:
    """Accrued interest, then principal, of one loan; returns (left, interest change)."""
    cur = _current_installment(loan, on)
    if cur is None or left <= 0 or any(i.outstanding for i in loan.overdue_installments(on)):
        return left, 0
    accrued = min(left, accrued_interest(loan, on))
    if accrued:
        cur.pay("interest", accrued)
        allocations[(loan.id, "interest")] += accrued
        left -= accrued
    remaining = loan.remaining_principal()
    pay = min(left, remaining)
    if pay <= 0:
        return left, 0
    left -= pay
    allocations[(loan.id, "principal")] += pay
    old_interest = sum(i.interest for i in loan.installments)
    days = (cur.due_date - cur.period_start).days
    acc = _principal_days(loan, cur, on, remaining)
    loan.accrual_no, loan.accrual_anchor, loan.accrual_acc = cur.no, on, acc
    new_principal = remaining - pay
    cur.paid_principal += pay
    cur.principal += pay
    later = sorted((i for i in loan.installments if i.due_date > on), key=lambda i: i.due_date)
    if new_principal == 0:
        cur.interest = cur.paid_interest
        for inst in later:
            inst.principal = inst.paid_principal
            inst.interest = inst.paid_interest
            inst.dirty = True
        loan.status = PAID_OFF
    else:
        parts = split_principal(new_principal, loan.annual_rate_bp, len(later))
        for inst, (part, interest) in zip(later, parts, strict=True):
            inst.principal = inst.paid_principal + part
            inst.interest = inst.paid_interest + interest
            inst.dirty = True
        general = period_interest(loan.annual_rate_bp,
                                  acc + new_principal * (cur.due_date - on).days, days)
        cur.interest = max(general, cur.paid_interest)
    cur.dirty = True
    loan.dirty = True
    return left, sum(i.interest for i in loan.installments) - old_interest


def _recover(loan: Loan, amount: int, allocations: Allocations) -> int:
    left = amount
    for inst in sorted(loan.installments, key=lambda i: (i.due_date, i.no)):
        for component in COMPONENTS:
            take = min(left, inst.owed(component))
            if take > 0:
                inst.pay(component, take)
                allocations[(loan.id, component)] += take
                left -= take
    return left


def refusal(user_id: str, loans: Sequence[Loan], loan_id: str | None, on: date,
            closed_through: date | None) -> Refusal | None:
    """Why a repayment by ``user_id`` dated ``on`` cannot be applied, if it cannot.

    ``loans`` are all the user's loans; ``closed_through`` is the last closed business
    date (None: none yet). A closed date's deductions, overdue days and scores are
    history, so is every installment due by then; a prepayment dated before a
    disbursement or an earlier prepayment would re-amortise periods already past.
    """
    named = [x for x in loans if x.id == loan_id]
    if loan_id is not None and not named:
        return Refusal(UNKNOWN_LOAN, "loan", f"unknown loan {loan_id!r} of user {user_id!r}")
    if closed_through is not None and on <= closed_through:
        return Refusal(DATE_CLOSED, "date", f"{on} is on or before the last closed business "
                                            f"date {closed_through}; a repayment is dated on "
                                            "the current business date")
    for x in named if loan_id is not None else [x for x in loans if x.live]:
        if on < x.disbursed:
            return Refusal(BEFORE_DISBURSEMENT, "date",
                           f"{on} is before loan {x.id}'s disbursement on {x.disbursed}")
        if x.accrual_anchor is not None and on < x.accrual_anchor:
            return Refusal(BEFORE_LAST_REPAYMENT, "date",
                           f"{on} is before loan {x.id}'s last prepayment on "
                           f"{x.accrual_anchor}")
    return None


def repay(user: User, loans: Sequence[Loan], loan_id: str | None, amount: int, on: date,
          key: str, *, closed_through: date | None = None) -> RepayOutcome:
    """Apply a repayment of ``amount`` received from outside on ``on``.

    ``loans`` are all the user's loans and ``closed_through`` the last closed business
    date; a repayment that ``refusal`` refuses raises ``RepayRefused`` and changes nothing.
    """
    refused = refusal(user.id, loans, loan_id, on, closed_through)
    if refused is not None:
        raise RepayRefused(refused)
    loans = sorted(loans, key=lambda x: x.id)
    allocations: Allocations = defaultdict(int)
    journals: list[Journal] = []
    targets = [x for x in loans if loan_id is None or x.id == loan_id]
    if loan_id is not None and targets and targets[0].status == WRITTEN_OFF:
        loan = targets[0]
        excess = _recover(loan, amount, allocations)
        lines = [(ledger.CASH, amount),
                 (ledger.written_off(loan.id), -(amount - excess))]
        if excess:
            lines.append((ledger.wallet(user.id), -excess))
            user.wallet += excess
            user.dirty = True
        journals.append(ledger.build(key, on, "recovery", user.id, loan.id, lines))
        return RepayOutcome(tuple(journals), dict(allocations), excess)
    live = [x for x in targets if x.live]
    due_allocs, left = allocate(amount, due_debts(live, on))
    for k, v in due_allocs.items():
        allocations[k] += v
    interest_changes: dict[str, int] = {}
    for loan in live:
        left, change = _pay_ahead(loan, on, left, allocations)
        if change:
            interest_changes[loan.id] = change
    if left:
        user.wallet += left
        user.dirty = True
    journals.append(ledger.build(key, on, "repay", user.id, loan_id,
                                 ledger.payment_postings("external", user.id, allocations,
                                                         left)))
    for lid, change in sorted(interest_changes.items()):
        journals.append(ledger.build(
            f"{key}:interest:{lid}", on, "interest_adjustment", user.id, lid,
            [(ledger.receivable(lid, "interest"), change), (ledger.UNEARNED_INTEREST, -change)]))
    return RepayOutcome(tuple(journals), dict(allocations), left)
