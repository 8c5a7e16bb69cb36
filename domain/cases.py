"""Collection cases (SPEC section 6): which open cases a night closes, with which
outcome and what they recovered, and which cases it opens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from domain.collection import CollectionOutcome
from domain.model import Loan

INTERNAL, AGENCY = "internal", "agency"
RECALLED, WRITTEN_OFF, ESCALATED = "recalled", "written_off", "escalated"


@dataclass(frozen=True, slots=True)
class OpenCase:
    """A case not yet closed, as stored."""

    id: int
    loan_id: str
    stage: str
    paid_at_open: int


@dataclass(frozen=True, slots=True)
class Closure:
    """An open case the night closes."""

    case_id: int
    closed_on: date
    outcome: str
    recovered: int


@dataclass(frozen=True, slots=True)
class NewCase:
    """A case the night opens (an agency case waits for the handoff pass to get one)."""

    loan_id: str
    user_id: str
    stage: str
    opened_on: date
    paid_at_open: int


def closing(out: CollectionOutcome) -> list[str]:
    """The loans whose open case may close: recalled, written off, or handed off."""
    return [*out.recalled, *out.written_off, *out.handoff_due]


def paid(loan: Loan) -> int:
    """All a loan's borrower has paid on it so far."""
    return sum(loan.paid().values())


def changes(open_cases: Sequence[OpenCase], loans: Mapping[str, Loan],
            out: CollectionOutcome, on: date) -> tuple[list[Closure], list[NewCase]]:
    """Close the open cases of the loans ``out`` recalls, writes off or hands off (an
    agency case already waiting for its handoff stays open, and no second one opens);
    open an internal case per new escalation and an agency case per handoff due. What
    a closed case recovered is what was paid since it opened."""
    waiting = {c.loan_id for c in open_cases if c.stage == AGENCY}
    closures = []
    for case in open_cases:
        if case.loan_id in out.handoff_due and case.stage == AGENCY:
            continue
        outcome = (RECALLED if case.loan_id in out.recalled else
                   WRITTEN_OFF if case.loan_id in out.written_off else ESCALATED)
        closures.append(Closure(case.id, on, outcome,
                                paid(loans[case.loan_id]) - case.paid_at_open))
    opened = [NewCase(lid, loans[lid].user_id, INTERNAL, on, paid(loans[lid]))
              for lid in out.opened_internal]
    opened += [NewCase(lid, loans[lid].user_id, AGENCY, on, paid(loans[lid]))
               for lid in out.handoff_due if lid not in waiting]
    return closures, opened
