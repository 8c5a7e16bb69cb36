"""Value objects of the servicing domain: users, loans, installments, journals.

They are plain mutable dataclasses: a chunk of them is loaded by ``store``,
the rule functions of this package change them and return what happened,
and ``store`` writes the changed ones back in bulk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

ACTIVE = "active"
OVERDUE = "overdue"
PAID_OFF = "paid_off"
WRITTEN_OFF = "written_off"
LIVE_STATUSES = (ACTIVE, OVERDUE)

COMPONENTS = ("penalty", "interest", "principal")

STAGE_NONE = "none"
STAGE_INTERNAL = "internal"
STAGE_AGENCY = "agency"
STAGE_WRITTEN_OFF = "written_off"
STAGE_CLOSED = "closed"


@dataclass(slots=True)
class Installment:
    loan_id: str
    no: int
    due_date: date
    period_start: date
    principal: int
    interest: int
    penalty: int = 0
    paid_principal: int = 0
    paid_interest: int = 0
    paid_penalty: int = 0
    pending_penalty: int = 0
    penalty_through: date | None = None
    dirty: bool = False

    @property
    def out_principal(self) -> int:
        return self.principal - self.paid_principal

    @property
    def out_interest(self) -> int:
        return self.interest - self.paid_interest

    @property
    def out_penalty(self) -> int:
        return self.penalty - self.paid_penalty

    @property
    def outstanding(self) -> int:
        return self.out_principal + self.out_interest + self.out_penalty

    def owed(self, component: str) -> int:
        if component == "principal":
            return self.out_principal
        if component == "interest":
            return self.out_interest
        return self.out_penalty

    def pay(self, component: str, amount: int) -> None:
        if component == "principal":
            self.paid_principal += amount
        elif component == "interest":
            self.paid_interest += amount
        else:
            self.paid_penalty += amount
        self.dirty = True


@dataclass(slots=True)
class Loan:
    id: str
    user_id: str
    principal: int
    annual_rate_bp: int
    term_months: int
    disbursed: date
    status: str = ACTIVE
    dpd: int = 0
    bucket: str = "C"
    collection_stage: str = STAGE_NONE
    agency: str | None = None
    on_hold: bool = False
    episode_level: int = 0
    accrual_no: int = 0
    accrual_anchor: date | None = None
    accrual_acc: int = 0
    written_off_on: date | None = None
    # The stored next-action date (oldest due date with money owed), as read.
    next_due: date | None = None
    installments: list[Installment] = field(default_factory=list)
    dirty: bool = False
    # Only the installments due by some date with money owed were loaded (the
    # deduction needs no more); totals over the whole loan are not available.
    partial: bool = False
    # With ``partial``: every installment due on or before this date that owed money
    # when read is among ``installments``.
    partial_through: date | None = None
    # With ``partial``: whether installments that were not loaded still owe money.
    owed_beyond: bool = False

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    def outstanding(self) -> dict[str, int]:
        return {
            "principal": sum(i.out_principal for i in self.installments),
            "interest": sum(i.out_interest for i in self.installments),
            "penalty": sum(i.out_penalty for i in self.installments),
        }

    def paid(self) -> dict[str, int]:
        return {
            "principal": sum(i.paid_principal for i in self.installments),
            "interest": sum(i.paid_interest for i in self.installments),
            "penalty": sum(i.paid_penalty for i in self.installments),
        }

    def total_outstanding(self) -> int:
        return sum(i.outstanding for i in self.installments)

    def remaining_principal(self) -> int:
        return sum(i.out_principal for i in self.installments)

    def next_due_date(self) -> date | None:
        for inst in sorted(self.installments, key=lambda i: i.due_date):
            if inst.outstanding > 0:
                return inst.due_date
        return None

    def overdue_installments(self, on: date) -> list[Installment]:
        return [i for i in self.installments if i.due_date <= on and i.outstanding > 0]


@dataclass(slots=True)
class User:
    id: str
    score: int
    limit: int
    limit_frozen: bool = False
    closed: bool = False
    wallet: int = 0
    fund: int = 0
    consent_wallet: bool = True
    consent_card: bool = True
    consent_fund: bool = True
    card_blocked: bool = False
    #: The platform's opaque token of the linked card (SPEC 13); None: no card linked.
    card_token: str | None = None
    dirty: bool = False


@dataclass(frozen=True, slots=True)
class Journal:
    """One money movement: postings (account, amount; debit positive) summing to zero."""

    key: str
    day: date
    kind: str
    user_id: str | None
    loan_id: str | None
    postings: tuple[tuple[str, int], ...]

    @property
    def amount(self) -> int:
        return sum(a for _, a in self.postings if a > 0)

    def balanced(self) -> bool:
        return sum(a for _, a in self.postings) == 0


@dataclass(frozen=True, slots=True)
class LoanEvent:
    """A fact about a loan on a business date that later steps act upon."""

    day: date
    user_id: str
    loan_id: str | None
    kind: str
    detail: int = 0
