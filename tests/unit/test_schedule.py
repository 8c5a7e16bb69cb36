"""Loan schedules (SPEC section 1)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.schedule import (
    annuity_payment,
    build_schedule,
    due_dates,
    period_interest,
    split_principal,
)

from .builders import amortise, annuity, half_up


def test_annuity_of_twelve_months_at_1800_bp_is_110016():
    # r = 1800/10000/12 = 0.015; 1.015^-12 = 0.8363874...; 1 - that = 0.1636126...
    # A = 1,200,000 * 0.015 / 0.1636126 = 18,000 / 0.1636126 = 110,015.991... -> 110,016
    assert annuity_payment(1_200_000, 1800, 12) == 110_016


@pytest.mark.parametrize(("principal", "rate", "term", "expected"), [
    (120_000, 1800, 3, 41_206),      # 1800 / (1 - 1.015^-3) = 41,206.05
    (500_000, 2400, 6, 89_263),      # 10,000 / (1 - 1.02^-6) = 89,262.58
    (100_000, 1200, 1, 101_000),     # one month: P * (1 + r) = 101,000
])
def test_annuity_matches_hand_worked_loans(principal, rate, term, expected):
    assert annuity_payment(principal, rate, term) == expected


def test_twelve_month_schedule_matches_hand_worked_rows():
    rows = split_principal(1_200_000, 1800, 12)
    # k=1: interest round(1,200,000 * 0.015) = 18,000; principal 110,016 - 18,000 = 92,016
    assert rows[0] == (92_016, 18_000)
    # k=2: remaining 1,107,984; interest round(16,619.76) = 16,620; principal 93,396
    assert rows[1] == (93_396, 16_620)
    # k=3: remaining 1,014,588; interest round(15,218.82) = 15,219; principal 94,797
    assert rows[2] == (94_797, 15_219)
    # k=12 takes what is left: 108,393, interest round(1,625.895) = 1,626
    assert rows[11] == (108_393, 1_626)
    assert sum(p for p, _ in rows) == 1_200_000
    assert rows == amortise(1_200_000, 1800, 12)


def test_every_installment_but_the_last_pays_exactly_the_annuity():
    rows = split_principal(1_200_000, 1800, 12)
    assert all(p + i == 110_016 for p, i in rows[:-1])


def test_three_month_schedule_matches_the_standard_loan():
    assert split_principal(120_000, 1800, 3) == [(39_406, 1800), (39_997, 1209), (40_597, 609)]


@given(principal=st.integers(1, 10**9), rate=st.integers(0, 10_000),
       term=st.integers(1, 120))
def test_principal_parts_always_sum_to_the_loan_principal(principal, rate, term):
    rows = split_principal(principal, rate, term)
    assert len(rows) == term
    assert sum(p for p, _ in rows) == principal
    assert all(p >= 0 and i >= 0 for p, i in rows)


@given(principal=st.integers(1000, 10**8), rate=st.integers(1, 5000),
       term=st.integers(1, 36))
def test_schedule_interest_is_the_monthly_rate_on_the_declining_balance(principal, rate, term):
    r = Fraction(rate, 120000)
    left = principal
    for p, i in split_principal(principal, rate, term):
        assert i == half_up(left * r)
        left -= p
    assert left == 0
    assert annuity_payment(principal, rate, term) == annuity(principal, rate, term)


@pytest.mark.parametrize(("principal", "term", "expected"), [
    (100_000, 3, [33_333, 33_333, 33_334]),
    (100, 7, [14, 14, 14, 14, 14, 14, 16]),
    (90_000, 3, [30_000, 30_000, 30_000]),
    (5, 6, [0, 0, 0, 0, 0, 5]),
])
def test_zero_rate_splits_evenly_with_the_remainder_on_the_last_installment(
        principal, term, expected):
    rows = split_principal(principal, 0, term)
    assert [p for p, _ in rows] == expected
    assert all(i == 0 for _, i in rows)


def test_due_dates_are_clamped_to_month_end_from_the_disbursement_day():
    assert due_dates(date(2026, 1, 31), 4) == [
        date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31)]
    assert due_dates(date(2023, 12, 31), 2) == [date(2024, 1, 31), date(2024, 2, 29)]


def test_build_schedule_chains_periods_from_disbursement_to_each_due_date():
    plan = build_schedule(120_000, 1800, 3, date(2026, 1, 31))
    assert [(p.no, p.period_start, p.due_date) for p in plan] == [
        (1, date(2026, 1, 31), date(2026, 2, 28)),
        (2, date(2026, 2, 28), date(2026, 3, 31)),
        (3, date(2026, 3, 31), date(2026, 4, 30)),
    ]
    assert [(p.principal, p.interest) for p in plan] == [
        (39_406, 1800), (39_997, 1209), (40_597, 609)]


def test_period_interest_is_the_general_day_weighted_formula():
    # 120,000 for 10 days then 70,581 for 21 days of a 31-day period, r = 0.015:
    # round(0.015 * (1,200,000 + 1,482,201) / 31) = round(1,297.84) = 1,298
    assert period_interest(1800, 120_000 * 10 + 70_581 * 21, 31) == 1298
    # without prepayment it is exactly round(remaining * r)
    assert period_interest(1800, 80_594 * 28, 28) == 1209
    assert period_interest(1800, 1000, 0) == 0
