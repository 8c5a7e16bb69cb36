"""What the bureau is told (domain/bureau.py)."""

from __future__ import annotations

from datetime import date

from domain import bureau
from domain.bureau import LoanState, Record
from domain.model import LoanEvent

D = date(2026, 3, 31)


def test_only_the_events_the_bureau_hears_of_are_reported() -> None:
    events = [LoanEvent(D, "u1", "L1", "OVERDUE_STARTED"), LoanEvent(D, "u1", "L1", "DPD_MOVED"),
              LoanEvent(D, "u1", None, "OVERDUE_STARTED")]
    assert bureau.reported(events) == [events[0]]


def test_an_event_line_carries_its_loans_status_and_a_write_off_says_written_off() -> None:
    loans = {"L1": LoanState("L1", "u1", "overdue", 12), "L2": LoanState("L2", "u2", "overdue",
                                                                         181)}
    events = [LoanEvent(D, "u1", "L1", "OVERDUE_STARTED"), LoanEvent(D, "u2", "L2",
                                                                     "WRITE_OFF_DUE")]
    assert bureau.event_records(events, loans) == [
        Record(D, "u1", "L1", "OVERDUE", "overdue", 12),
        Record(D, "u2", "L2", "WRITTEN_OFF", "written_off", 181)]


def test_the_month_end_file_has_a_line_per_loan() -> None:
    assert bureau.monthly_records(D, [LoanState("L1", "u1", "active", 0)]) == [
        Record(D, "u1", "L1", "MONTHLY", "active", 0)]
