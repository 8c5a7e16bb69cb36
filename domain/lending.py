"""Opening loans: draws against the available limit, and loans brought in from elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from domain import ledger
from domain.model import Installment, Journal, Loan, User
from domain.schedule import build_schedule, due_dates, split_principal

ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
OVERDUE_FREEZE = "OVERDUE_FREEZE"
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


def available_limit(user: User, loans: Sequence[Loan]) -> int:
    return user.limit - sum(x.remaining_principal() for x in loans if x.user_id == user.id)


def refuse_draw(user: User, loans: Sequence[Loan], principal: int) -> str | None:
    """The reason a draw is refused, or None when it may be disbursed."""
    if user.closed:
        return ACCOUNT_CLOSED
    if user.limit_frozen:
        return OVERDUE_FREEZE
    if principal > available_limit(user, loans):
        return LIMIT_EXCEEDED
    return None


def new_loan(loan_id: str, user_id: str, principal: int, annual_rate_bp: int,
             term_months: int, disbursed: date) -> Loan:
    plan = build_schedule(principal, annual_rate_bp, term_months, disbursed)
    installments = [Installment(loan_id, p.no, p.due_date, p.period_start, p.principal,
                                p.interest, dirty=True) for p in plan]
    return Loan(loan_id, user_id, principal, annual_rate_bp, term_months, disbursed,
                installments=installments, dirty=True)


def disburse(loan: Loan, on: date) -> Journal:
    """Pay the principal out to the borrower's card; book principal and scheduled interest."""
    interest = sum(i.interest for i in loan.installments)
    return ledger.build(
        f"disburse:{loan.id}", on, "disbursement", loan.user_id, loan.id,
        [(ledger.receivable(loan.id, "principal"), loan.principal),
         (ledger.receivable(loan.id, "interest"), interest),
         (ledger.CASH, -loan.principal),
         (ledger.UNEARNED_INTEREST, -interest)])


def bring_in(loan: Loan, first_open_day: date, paid_before: date | None = None) -> Journal:
    """Open a loan serviced before ``first_open_day``: installments due before
    ``paid_before`` (default: that day) count as paid; later ones are owed."""
    cutoff = paid_before or first_open_day
    for inst in loan.installments:
        if inst.due_date < cutoff:
            inst.paid_principal, inst.paid_interest = inst.principal, inst.interest
    out = loan.outstanding()
    return ledger.build(
        f"opening:{loan.id}", first_open_day, "opening", loan.user_id, loan.id,
        [(ledger.receivable(loan.id, "principal"), out["principal"]),
         (ledger.receivable(loan.id, "interest"), out["interest"]),
         (ledger.OPENING_EQUITY, -(out["principal"] + out["interest"]))])


@dataclass(frozen=True, slots=True)
class Opened:
    """A loan brought in as rows (``bring_in_rows``): each installment as (loan id, no,
    due date, period start, principal, interest, paid principal, paid interest), the
    oldest due date still owed and the opening journal."""

    installments: list[tuple[str, int, date, date, int, int, int, int]]
    next_due: date | None
    journal: Journal


def bring_in_rows(loan_id: str, user_id: str, principal: int, annual_rate_bp: int,
                  term_months: int, disbursed: date, installments_paid: int,
                  first_open_day: date) -> Opened:
    """``bring_in(new_loan(...), first_open_day, due date of installment
    installments_paid + 1)`` as plain rows, for a whole book's import: the first
    ``installments_paid`` installments paid, the rest owed (a property test holds the
    two equal)."""
    dues = due_dates(disbursed, term_months)
    parts = split_principal(principal, annual_rate_bp, term_months)
    starts = (disbursed, *dues[:-1])
    paid = installments_paid  # due dates rise month by month: the first ``paid`` are due before
    rows = [(loan_id, k + 1, dues[k], starts[k], part, interest, part, interest)
            for k, (part, interest) in enumerate(parts[:paid])]
    rows += [(loan_id, k + 1, dues[k], starts[k], part, interest, 0, 0)
             for k, (part, interest) in enumerate(parts[paid:], start=paid)]
    owed_principal = sum(part for part, _ in parts[paid:])
    owed_interest = sum(interest for _, interest in parts[paid:])
    next_due = next((dues[k] for k in range(paid, term_months) if sum(parts[k]) > 0), None)
    journal = ledger.build(
        f"opening:{loan_id}", first_open_day, "opening", user_id, loan_id,
        [(ledger.receivable(loan_id, "principal"), owed_principal),
         (ledger.receivable(loan_id, "interest"), owed_interest),
         (ledger.OPENING_EQUITY, -(owed_principal + owed_interest))])
    return Opened(rows, next_due, journal)


def opening_balance(user_id: str, account: str, amount: int, on: date) -> Journal:
    return ledger.build(f"opening:{account}", on, "opening", user_id, None,
                        [(ledger.OPENING_EQUITY, amount), (account, -amount)])


def external_in(key: str, user_id: str, account: str, amount: int, on: date,
                kind: str) -> Journal:
    """Money arriving from outside into a user's wallet or fund."""
    return ledger.build(key, on, kind, user_id, None, [(ledger.CASH, amount), (account, -amount)])
