"""A whole book's loans brought in as rows equal the loans ``new_loan`` + ``bring_in`` make."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import lending


@st.composite
def _loans(draw: st.DrawFn) -> tuple[int, int, int, date, int, date]:
    term = draw(st.integers(1, 60))
    return (draw(st.one_of(st.integers(1, 10**12), st.integers(1, 500))),
            draw(st.one_of(st.integers(0, 100_000), st.sampled_from([0, 1200, 1800, 3600]))),
            term,
            date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 800))),
            draw(st.integers(0, term - 1)),
            date(2025, 1, 1) + timedelta(days=draw(st.integers(0, 800))))


@settings(max_examples=2000, deadline=None)
@given(loan=_loans())
def test_a_loan_brought_in_as_rows_equals_the_loan_new_loan_and_bring_in_make(
        loan: tuple[int, int, int, date, int, date]) -> None:
    principal, rate, term, disbursed, paid, first = loan
    made = lending.new_loan("L1", "u1", principal, rate, term, disbursed)
    journal = lending.bring_in(made, first, made.installments[paid].due_date)
    rows = lending.bring_in_rows("L1", "u1", principal, rate, term, disbursed, paid, first)
    assert rows.installments == [
        (i.loan_id, i.no, i.due_date, i.period_start, i.principal, i.interest, i.paid_principal,
         i.paid_interest) for i in made.installments]
    assert all(i.penalty == i.paid_penalty == i.pending_penalty == 0
               and i.penalty_through is None for i in made.installments)
    assert rows.next_due == made.next_due_date()
    assert rows.journal == journal
