"""What the credit bureau is told (SPEC section 7): a line per loan event it hears of
(overdue, M3+, written off, cleared) and, on a month end, a line per loan."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from domain.model import WRITTEN_OFF, LoanEvent
from domain.scoring import BUREAU_KIND

MONTHLY = "MONTHLY"


@dataclass(frozen=True, slots=True)
class LoanState:
    """A loan as the bureau sees it."""

    id: str
    user_id: str
    status: str
    dpd: int


@dataclass(frozen=True, slots=True)
class Record:
    """One line of the bureau file."""

    day: date
    user_id: str
    loan_id: str
    kind: str
    status: str
    dpd: int


def reported(events: Iterable[LoanEvent]) -> list[LoanEvent]:
    """The loan events the bureau hears of."""
    return [e for e in events if e.kind in BUREAU_KIND and e.loan_id]


def event_records(events: Iterable[LoanEvent], loans: Mapping[str, LoanState]) -> list[Record]:
    """A line per reported event, with its loan's status and days past due (a write-off
    says written off, whatever the loan's row says yet)."""
    out = []
    for e in reported(events):
        kind, loan = BUREAU_KIND[e.kind], loans[str(e.loan_id)]
        out.append(Record(e.day, e.user_id, loan.id, kind,
                          WRITTEN_OFF if kind == "WRITTEN_OFF" else loan.status, loan.dpd))
    return out


def monthly_records(on: date, loans: Iterable[LoanState]) -> list[Record]:
    """The month-end file: a line per loan disbursed by then."""
    return [Record(on, x.user_id, x.id, MONTHLY, x.status, x.dpd) for x in loans]
