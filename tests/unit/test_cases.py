"""Collection cases (domain/cases.py): outcomes, recoveries, cases opened."""

from __future__ import annotations

from datetime import date

from domain import cases
from domain.cases import Closure, NewCase, OpenCase
from domain.collection import CollectionOutcome

from .builders import inst, loan

D = date(2026, 3, 20)


def paid_loan(lid: str, paid: int, user: str = "u1") -> object:
    x = loan(lid, [inst(lid, 1, date(2026, 2, 15), 10_000)], user=user)
    x.installments[0].pay("principal", paid)
    return x


def test_each_closed_case_says_why_and_what_it_recovered_since_it_opened() -> None:
    loans = {lid: paid_loan(lid, 900) for lid in ("L1", "L2", "L3")}
    open_cases = [OpenCase(1, "L1", "internal", 100), OpenCase(2, "L2", "internal", 900),
                  OpenCase(3, "L3", "internal", 0)]
    out = CollectionOutcome(recalled=["L1"], written_off=["L2"], handoff_due=["L3"])
    closures, opened = cases.changes(open_cases, loans, out, D)
    assert closures == [Closure(1, D, "recalled", 800), Closure(2, D, "written_off", 0),
                        Closure(3, D, "escalated", 900)]
    assert opened == [NewCase("L3", "u1", "agency", D, 900)]


def test_an_agency_case_waiting_for_its_handoff_stays_open_and_is_not_opened_twice() -> None:
    loans = {"L1": paid_loan("L1", 0)}
    out = CollectionOutcome(handoff_due=["L1"])
    closures, opened = cases.changes([OpenCase(5, "L1", "agency", 0)], loans, out, D)
    assert closures == [] and opened == []


def test_a_new_escalation_opens_an_internal_case_with_what_was_paid_so_far() -> None:
    loans = {"L1": paid_loan("L1", 250, user="u7")}
    closures, opened = cases.changes([], loans, CollectionOutcome(opened_internal=["L1"]), D)
    assert closures == [] and opened == [NewCase("L1", "u7", "internal", D, 250)]


def test_the_loans_whose_case_may_close_are_the_recalled_written_off_and_handed_off() -> None:
    out = CollectionOutcome(recalled=["L1"], written_off=["L2"], handoff_due=["L3"],
                            opened_internal=["L4"])
    assert cases.closing(out) == ["L1", "L2", "L3"]
