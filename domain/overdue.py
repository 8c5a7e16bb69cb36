"""Overdue detection (SPEC section 3): days past due, buckets, penalty interest.

``assess`` runs after the day's deduction over the loans that have work
(something due and unpaid, or a DPD from yesterday) and returns, per loan,
the penalty accruals and the facts later steps act upon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from domain import ledger
from domain.config import ProductConfig
from domain.deduction import days_late
from domain.model import ACTIVE, OVERDUE, PAID_OFF, Journal, Loan, LoanEvent
from domain.money import round_half_up

BUCKET_LEVEL = {"C": 0, "M1": 1, "M2": 2, "M3": 3, "M3+": 4}
BUCKET_REASON = {2: "BUCKET_M2", 3: "BUCKET_M3", 4: "BUCKET_M3_PLUS"}


@dataclass(frozen=True, slots=True)
class PenaltyAccrual:
    loan_id: str
    installment_no: int
    day: date
    principal_base: int
    amount: int
    booked: bool


@dataclass(slots=True)
class OverdueOutcome:
    accruals: list[PenaltyAccrual] = field(default_factory=list)
    booked_pending: list[tuple[str, int]] = field(default_factory=list)
    dropped_pending: list[tuple[str, int]] = field(default_factory=list)
    journals: list[Journal] = field(default_factory=list)
    events: list[LoanEvent] = field(default_factory=list)
    status_changed_users: set[str] = field(default_factory=set)
    cleared_users: set[str] = field(default_factory=set)


def daily_penalty(unpaid_principal: int, annual_rate_bp: int, config: ProductConfig) -> int:
    rate = Fraction(config.penalty_annual_rate_bp(annual_rate_bp))
    return round_half_up(unpaid_principal * rate / 10000 / 360)


def penalty_key(loan_id: str, on: date) -> str:
    return f"penalty:{loan_id}:{on.isoformat()}"


def assess(loans: Sequence[Loan], on: date, config: ProductConfig) -> OverdueOutcome:
    out = OverdueOutcome()
    for loan in loans:
        if loan.live or (loan.status == PAID_OFF and loan.dpd > 0):
            _assess_loan(loan, on, config, out)
    return out


# C901: one loan's day in the SPEC's order (stale pending penalty, accrual within and beyond
# grace, status, bucket events); split, the parts would pass half-updated installments along.
def _assess_loan(loan: Loan, on: date, config: ProductConfig,  # noqa: C901
                 out: OverdueOutcome) -> None:
    grace = config.grace_days
    booked_today = 0
    for inst in loan.installments:
        if inst.pending_penalty and (inst.outstanding == 0 or inst.due_date > on):
            out.dropped_pending.append((loan.id, inst.no))
            inst.pending_penalty = 0
            inst.dirty = True
    overdue = loan.overdue_installments(on)
    for inst in overdue:
        late = days_late(inst.due_date, on)
        if inst.penalty_through is not None and inst.penalty_through >= on:
            continue
        amount = daily_penalty(inst.out_principal, loan.annual_rate_bp, config)
        beyond = late > grace
        out.accruals.append(PenaltyAccrual(loan.id, inst.no, on, inst.out_principal, amount,
                                           beyond))
        if beyond:
            if inst.pending_penalty:
                out.booked_pending.append((loan.id, inst.no))
            booked = inst.pending_penalty + amount
            inst.penalty += booked
            booked_today += booked
            inst.pending_penalty = 0
        else:
            inst.pending_penalty += amount
        inst.penalty_through = on
        inst.dirty = True
    if booked_today:
        out.journals.append(ledger.build(
            penalty_key(loan.id, on), on, "penalty", loan.user_id, loan.id,
            [(ledger.receivable(loan.id, "penalty"), booked_today),
             (ledger.PENALTY_INCOME, -booked_today)]))

    # A prepayment may have closed a late loan during the day: it leaves
    # ``overdue`` now, with the clearing that goes with it.
    old_status = OVERDUE if loan.status == PAID_OFF and loan.episode_level else loan.status
    dpd = days_late(min(i.due_date for i in overdue), on) if overdue else 0
    beyond_grace = any(days_late(i.due_date, on) > grace for i in overdue)
    if not loan.owed_beyond and all(i.outstanding == 0 for i in loan.installments):
        status = PAID_OFF
    elif beyond_grace:
        status = OVERDUE
    else:
        status = ACTIVE
    bucket = config.bucket(dpd)

    def event(kind: str, detail: int = 0) -> None:
        out.events.append(LoanEvent(on, loan.user_id, loan.id, kind, detail))

    if old_status != OVERDUE and status == OVERDUE:
        loan.episode_level = 1
        event("OVERDUE_STARTED", dpd)
    if status == OVERDUE:
        level = BUCKET_LEVEL[bucket]
        for reached in range(max(loan.episode_level + 1, 2), level + 1):
            event(BUCKET_REASON[reached], dpd)
        loan.episode_level = max(loan.episode_level, level)
    if old_status == OVERDUE and status != OVERDUE:
        loan.episode_level = 0
        event("OVERDUE_CLEARED", dpd)
        out.cleared_users.add(loan.user_id)
    for inst in loan.installments:
        if inst.due_date == on and inst.outstanding == 0:
            event("ON_TIME_REPAYMENT", inst.no)
    if status == OVERDUE and dpd >= config.write_off_dpd and not loan.on_hold:
        event("WRITE_OFF_DUE", dpd)
    if status != old_status or status != loan.status:
        out.status_changed_users.add(loan.user_id)
    if (status, dpd, bucket) != (loan.status, loan.dpd, loan.bucket):
        loan.status, loan.dpd, loan.bucket = status, dpd, bucket
        loan.dirty = True
