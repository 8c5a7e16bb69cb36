"""Draws against the available limit, and opening journals (SPEC sections 2 and 8)."""

from __future__ import annotations

from datetime import date

import pytest

from domain.lending import available_limit, bring_in, disburse, new_loan, refuse_draw

from .builders import inst, loan, user


def test_available_limit_is_the_limit_minus_outstanding_principal_of_all_loans():
    u = user(limit=2_000_000)
    a = loan("L1", [inst("L1", 1, date(2026, 2, 1), 300_000)])
    a.installments[0].paid_principal = 100_000
    b = loan("L2", [inst("L2", 1, date(2026, 2, 1), 500_000, 9_999)])
    other = loan("L3", [inst("L3", 1, date(2026, 2, 1), 700_000)], user="u2")
    assert available_limit(u, [a, b, other]) == 2_000_000 - 200_000 - 500_000


@pytest.mark.parametrize(("closed", "frozen", "principal", "reason"), [
    (True, False, 1, "ACCOUNT_CLOSED"),
    (True, True, 1, "ACCOUNT_CLOSED"),
    (False, True, 1, "OVERDUE_FREEZE"),
    (False, False, 1_300_001, "LIMIT_EXCEEDED"),
    (False, False, 1_300_000, None),
])
def test_a_draw_is_refused_when_closed_frozen_or_beyond_the_available_limit(
        closed, frozen, principal, reason):
    u = user(limit=2_000_000)
    u.closed, u.limit_frozen = closed, frozen
    existing = loan("L1", [inst("L1", 1, date(2026, 2, 1), 700_000)])
    assert refuse_draw(u, [existing], principal) == reason


def test_disbursement_books_principal_and_scheduled_interest_and_balances():
    x = new_loan("L2", "u1", 120_000, 1800, 3, date(2026, 1, 15))
    journal = disburse(x, date(2026, 1, 15))
    assert journal.balanced()
    assert dict(journal.postings) == {
        "loan:L2:principal": 120_000, "loan:L2:interest": 3_618,
        "cash": -120_000, "unearned_interest": -3_618}
    assert [i.due_date for i in x.installments] == [
        date(2026, 2, 15), date(2026, 3, 15), date(2026, 4, 15)]


def test_a_loan_brought_in_counts_installments_due_before_the_story_as_paid():
    x = new_loan("L1", "u1", 120_000, 1800, 3, date(2026, 1, 15))
    journal = bring_in(x, date(2026, 3, 1))
    assert x.paid() == {"principal": 39_406, "interest": 1_800, "penalty": 0}
    assert journal.balanced()
    assert dict(journal.postings) == {
        "loan:L1:principal": 39_997 + 40_597, "loan:L1:interest": 1_209 + 609,
        "opening_equity": -(39_997 + 40_597 + 1_209 + 609)}
