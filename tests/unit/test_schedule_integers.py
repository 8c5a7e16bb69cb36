"""The schedule's integer arithmetic equals the rational definition it replaced (SPEC 1)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.money import monthly_rate, round_half_up
from domain.schedule import _half_up, annuity_payment, split_principal


def _rational_annuity(principal: int, annual_rate_bp: int, term_months: int) -> int:
    """``annuity_payment`` as it was, on Fractions."""
    r = monthly_rate(annual_rate_bp)
    if r == 0:
        return round_half_up(Fraction(principal, term_months))
    factor = 1 - (1 + r) ** -term_months
    return round_half_up(principal * r / factor)


def _rational_split(principal: int, annual_rate_bp: int, count: int) -> list[tuple[int, int]]:
    """``split_principal`` as it was, on Fractions."""
    if count <= 0:
        return []
    r = monthly_rate(annual_rate_bp)
    if r == 0:
        even = principal // count
        parts = [(even, 0) for _ in range(count - 1)]
        parts.append((principal - even * (count - 1), 0))
        return parts
    payment = _rational_annuity(principal, annual_rate_bp, count)
    remaining = principal
    parts = []
    for k in range(1, count + 1):
        interest = round_half_up(remaining * r)
        part = remaining if k == count else min(payment - interest, remaining)
        part = max(part, 0)
        parts.append((part, interest))
        remaining -= part
    return parts


AMOUNTS = st.one_of(st.integers(0, 10**12), st.integers(0, 10_000), st.integers(-10**6, 0))
RATES = st.one_of(st.integers(0, 100_000), st.sampled_from([0, 1, 1080, 1460, 1800, 2400, 3600]))
TERMS = st.one_of(st.integers(0, 360), st.integers(1, 36))


@settings(max_examples=3000, deadline=None)
@given(principal=AMOUNTS, rate=RATES, count=TERMS)
@example(principal=1_200_000, rate=1800, count=12)
@example(principal=1, rate=100_000, count=360)
@example(principal=10**12, rate=1, count=1)
def test_the_integer_schedule_equals_the_rational_one_for_every_amount_rate_and_term(
        principal: int, rate: int, count: int) -> None:
    assert split_principal(principal, rate, count) == _rational_split(principal, rate, count)
    if count > 0:
        assert annuity_payment(principal, rate, count) == \
            _rational_annuity(principal, rate, count)


@settings(max_examples=3000)
@given(numerator=st.integers(-10**30, 10**30), denominator=st.integers(1, 10**20))
@example(numerator=1, denominator=2)
@example(numerator=-1, denominator=2)
@example(numerator=-3, denominator=2)
def test_integer_half_up_rounds_like_the_fraction_rounding(numerator: int,
                                                          denominator: int) -> None:
    assert _half_up(numerator, denominator) == round_half_up(Fraction(numerator, denominator))
