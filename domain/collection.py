"""Collection handoff (SPEC section 6): reminders, cases, agencies, write-off.

``collect`` decides for a chunk of loans; ``assign_agencies`` is the one
serialized pass per business date that hands the day's loans to agencies in
loan id order, so the result does not depend on chunk timing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain import ledger
from domain.config import ProductConfig
from domain.model import (
    OVERDUE,
    STAGE_AGENCY,
    STAGE_CLOSED,
    STAGE_INTERNAL,
    STAGE_NONE,
    STAGE_WRITTEN_OFF,
    WRITTEN_OFF,
    Journal,
    Loan,
)

OPEN_STAGES = (STAGE_INTERNAL, STAGE_AGENCY)


@dataclass(frozen=True, slots=True)
class Notification:
    day: date
    user_id: str
    loan_id: str
    kind: str


@dataclass(slots=True)
class CollectionOutcome:
    notifications: list[Notification] = field(default_factory=list)
    opened_internal: list[str] = field(default_factory=list)
    handoff_due: list[str] = field(default_factory=list)
    recalled: list[str] = field(default_factory=list)
    written_off: list[str] = field(default_factory=list)
    closed_users: set[str] = field(default_factory=set)
    journals: list[Journal] = field(default_factory=list)


def reminder_window(day: date, config: ProductConfig) -> tuple[datetime, datetime]:
    """When a reminder dated ``day`` may be sent: the close of ``day`` runs after it has
    ended, so on the next day, inside ``reminder_window`` of the deployment's time zone
    (SPEC 6). Past the end it expires unsent (SPEC 14)."""
    zone = ZoneInfo(config.time_zone)
    start, end = (time.fromisoformat(t) for t in config.reminder_window)
    send_on = day + timedelta(days=1)
    return datetime.combine(send_on, start, zone), datetime.combine(send_on, end, zone)


def write_off_key(loan_id: str) -> str:
    return f"write_off:{loan_id}"


def needs_installments(loan: Loan, config: ProductConfig) -> bool:
    """Whether ``collect`` will look at this loan's installments (to write it off, to
    price a handoff, or to open or close a case), rather than only at the loan."""
    if loan.status == WRITTEN_OFF:
        return False
    if loan.collection_stage in OPEN_STAGES and loan.status != OVERDUE:
        return True
    return loan.status == OVERDUE and not loan.on_hold and (
        loan.dpd >= config.write_off_dpd
        or (loan.dpd >= config.handoff_dpd and loan.collection_stage != STAGE_AGENCY)
        or (loan.dpd >= config.internal_case_dpd
            and loan.collection_stage in (STAGE_NONE, STAGE_CLOSED)))


def collect(loans: Sequence[Loan], on: date, config: ProductConfig,
            due_soon: Set[str] | None = None) -> CollectionOutcome:
    """Reminders, escalation and recalls for a chunk of loans.

    ``due_soon`` names the loans with an installment owed ``due_soon_days``
    ahead; without it they are found from the loans' installments.
    """
    out = CollectionOutcome()
    soon = on + timedelta(days=config.due_soon_days)
    for loan in loans:
        if loan.status == WRITTEN_OFF:
            continue
        if loan.collection_stage in OPEN_STAGES and loan.status != OVERDUE:
            loan.collection_stage = STAGE_CLOSED
            loan.dirty = True
            out.recalled.append(loan.id)
        if loan.on_hold or not loan.live:
            continue
        if (loan.id in due_soon if due_soon is not None else
                any(i.due_date == soon and i.outstanding > 0 for i in loan.installments)):
            out.notifications.append(Notification(on, loan.user_id, loan.id, "due_soon"))
        if 1 <= loan.dpd <= 3:
            out.notifications.append(Notification(on, loan.user_id, loan.id,
                                                  "overdue_reminder"))
        if loan.status != OVERDUE:
            continue
        if loan.dpd >= config.write_off_dpd:
            out.journals.append(write_off(loan, on))
            out.written_off.append(loan.id)
            out.closed_users.add(loan.user_id)
        elif loan.dpd >= config.handoff_dpd and loan.collection_stage != STAGE_AGENCY:
            out.handoff_due.append(loan.id)
        elif (loan.dpd >= config.internal_case_dpd
              and loan.collection_stage in (STAGE_NONE, STAGE_CLOSED)):
            loan.collection_stage = STAGE_INTERNAL
            loan.dirty = True
            out.opened_internal.append(loan.id)
    return out


def write_off(loan: Loan, on: date) -> Journal:
    """Move what is owed to the written-off account and waive future interest."""
    principal = interest_due = penalty = waived = 0
    for inst in loan.installments:
        principal += inst.out_principal
        penalty += inst.out_penalty
        if inst.due_date <= on:
            interest_due += inst.out_interest
        else:
            waived += inst.out_interest
            inst.interest = inst.paid_interest
        if inst.pending_penalty:
            inst.pending_penalty = 0
        inst.dirty = True
    loan.status = WRITTEN_OFF
    loan.collection_stage = STAGE_WRITTEN_OFF
    loan.written_off_on = on
    loan.dirty = True
    return ledger.build(
        write_off_key(loan.id), on, "write_off", loan.user_id, loan.id,
        [(ledger.written_off(loan.id), principal + interest_due + penalty),
         (ledger.UNEARNED_INTEREST, waived),
         (ledger.receivable(loan.id, "principal"), -principal),
         (ledger.receivable(loan.id, "interest"), -(interest_due + waived)),
         (ledger.receivable(loan.id, "penalty"), -penalty)])


def assign_agencies(loan_ids: Iterable[str],
                    open_cases: Mapping[str, int]) -> list[tuple[str, str]]:
    """Each loan, in id order, to the agency with the fewest open cases (ties by name)."""
    counts = dict(open_cases)
    if not counts:
        raise ValueError("no collection agency is configured")
    assigned = []
    for loan_id in sorted(loan_ids):
        agency = min(counts, key=lambda name: (counts[name], name))
        counts[agency] += 1
        assigned.append((loan_id, agency))
    return assigned


def mask_name(name: str) -> str:
    return (name[:1] + "*") if name else "*"


def mask_phone(phone: str) -> str:
    if len(phone) <= 5:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 5) + phone[-2:]


def contact_token(user_id: str, secret: str) -> str:
    """An opaque token the platform's call relay resolves to the borrower's phone."""
    digest = hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()
    return "ct_" + digest[:24]


def amount_owed(loan: Loan, on: date) -> int:
    """What the borrower must pay to settle: all principal, plus interest and penalty due."""
    return sum(i.out_principal + i.out_penalty + (i.out_interest if i.due_date <= on else 0)
               for i in loan.installments)
