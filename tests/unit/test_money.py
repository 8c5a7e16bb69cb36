"""Exact money arithmetic and calendar helpers (SPEC: money, dates)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import add_months, days_between, is_month_end, round_down, round_half_up, yuan


@pytest.mark.parametrize(("value", "expected"), [
    (Fraction(5, 2), 3),
    (Fraction(7, 2), 4),
    (Fraction(1, 2), 1),
    (Fraction(249, 100), 2),
    (Fraction(251, 100), 3),
    (Decimal("29.55"), 30),
    (Decimal("0.4999"), 0),
    (10, 10),
    (0, 0),
])
def test_round_half_up_rounds_halves_up_and_the_rest_to_nearest(value, expected):
    assert round_half_up(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (Fraction(-5, 2), -3),
    (Fraction(-1, 2), -1),
    (Fraction(-249, 100), -2),
    (Fraction(-251, 100), -3),
    (-7, -7),
])
def test_round_half_up_takes_negative_halves_away_from_zero(value, expected):
    assert round_half_up(value) == expected


@given(st.fractions(max_denominator=1000).filter(lambda f: abs(f) < 10**9))
def test_round_half_up_is_symmetric_around_zero_and_within_half_a_fen(value):
    got = round_half_up(value)
    assert round_half_up(-value) == -got
    assert abs(got - value) <= Fraction(1, 2)


def test_round_half_up_never_passes_through_binary_floats():
    # 0.5 + 1e-30 would be lost in a float; the exact fraction is just above one half
    assert round_half_up(Fraction(1, 2) - Fraction(1, 10**30)) == 0
    assert round_half_up(Fraction(10**20) + Fraction(1, 2)) == 10**20 + 1


@pytest.mark.parametrize(("value", "step", "expected"), [
    (Fraction(1_481_480), 10_000, 1_480_000),
    (1_489_999, 10_000, 1_480_000),
    (1_490_000, 10_000, 1_490_000),
    (Fraction(9_999, 1), 10_000, 0),
])
def test_round_down_goes_to_the_multiple_below(value, step, expected):
    assert round_down(value, step) == expected


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2026, 1, 31), 2, date(2026, 3, 31)),
    (date(2026, 1, 31), 3, date(2026, 4, 30)),
    (date(2026, 1, 15), 1, date(2026, 2, 15)),
    (date(2026, 11, 30), 3, date(2027, 2, 28)),
    (date(2026, 12, 31), 1, date(2027, 1, 31)),
    (date(2026, 3, 31), 12, date(2027, 3, 31)),
    (date(2026, 5, 31), 0, date(2026, 5, 31)),
])
def test_add_months_clamps_to_the_last_day_of_the_month(start, months, expected):
    assert add_months(start, months) == expected


def test_add_months_counts_from_the_start_not_from_the_clamped_month():
    # Jan 31 + 1 is Feb 28, but Jan 31 + 2 is Mar 31 (not Mar 28)
    assert [add_months(date(2026, 1, 31), k) for k in (1, 2)] == [
        date(2026, 2, 28), date(2026, 3, 31)]


def test_days_between_and_month_end():
    assert days_between(date(2026, 2, 15), date(2026, 3, 15)) == 28
    assert is_month_end(date(2024, 2, 29))
    assert not is_month_end(date(2024, 2, 28))
    assert is_month_end(date(2026, 12, 31))


def test_yuan_formats_fen_with_two_decimals():
    assert yuan(1_200_000) == "12,000.00"
    assert yuan(-5) == "-0.05"
    assert yuan(110_016) == "1,100.16"
