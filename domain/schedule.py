"""Loan schedules (SPEC section 1): equal monthly installments on a declining balance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from functools import lru_cache

from domain.money import add_months, monthly_rate, round_half_up


@dataclass(frozen=True, slots=True)
class PlannedInstallment:
    no: int
    due_date: date
    period_start: date
    principal: int
    interest: int


_BP_MONTH = 10000 * 12  # a monthly rate is annual_rate_bp / _BP_MONTH


def _half_up(numerator: int, denominator: int) -> int:
    """``round_half_up(numerator / denominator)`` for a positive denominator, in integers."""
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((denominator - 2 * numerator) // (2 * denominator))


@lru_cache(maxsize=4096)
def _annuity_factor(annual_rate_bp: int, term_months: int) -> tuple[int, int]:
    """r / (1 - (1 + r)^-n) as a reduced fraction (numerator, denominator), r = bp / 120000.

    With r = b/D: r / (1 - D^n / (D+b)^n) = b (D+b)^n / (D ((D+b)^n - D^n)).
    """
    grown = (_BP_MONTH + annual_rate_bp) ** term_months
    exact = Fraction(annual_rate_bp * grown, _BP_MONTH * (grown - _BP_MONTH ** term_months))
    return exact.numerator, exact.denominator


def annuity_payment(principal: int, annual_rate_bp: int, term_months: int) -> int:
    """The equal monthly payment, half-up to the fen (SPEC section 1); exact integers."""
    if annual_rate_bp == 0:
        return _half_up(principal, term_months)
    num, den = _annuity_factor(annual_rate_bp, term_months)
    return _half_up(principal * num, den)


def split_principal(principal: int, annual_rate_bp: int, count: int) -> list[tuple[int, int]]:
    """(principal, interest) of ``count`` installments on ``principal``, SPEC section 1.

    Integer arithmetic equal to the rational definition (a property test compares them):
    each month's interest is ``round_half_up(remaining * r)``, the payment less it repays
    principal, and the last installment takes what remains.
    """
    if count <= 0:
        return []
    if annual_rate_bp == 0:
        even = principal // count
        parts = [(even, 0) for _ in range(count - 1)]
        parts.append((principal - even * (count - 1), 0))
        return parts
    payment = annuity_payment(principal, annual_rate_bp, count)
    remaining = principal
    twice_d = 2 * _BP_MONTH
    twice_b = 2 * annual_rate_bp
    parts = []
    for k in range(1, count + 1):
        interest = _half_up(remaining * annual_rate_bp, _BP_MONTH) if remaining < 0 else \
            (remaining * twice_b + _BP_MONTH) // twice_d
        part = remaining if k == count else min(payment - interest, remaining)
        part = max(part, 0)
        parts.append((part, interest))
        remaining -= part
    return parts


def due_dates(disbursed: date, term_months: int) -> list[date]:
    return list(_due_dates(disbursed, term_months))


@lru_cache(maxsize=65536)  # a book has a few thousand (disbursed, term) pairs
def _due_dates(disbursed: date, term_months: int) -> tuple[date, ...]:
    return tuple(add_months(disbursed, k) for k in range(1, term_months + 1))


def build_schedule(principal: int, annual_rate_bp: int, term_months: int,
                   disbursed: date) -> list[PlannedInstallment]:
    dues = due_dates(disbursed, term_months)
    parts = split_principal(principal, annual_rate_bp, term_months)
    starts = [disbursed, *dues[:-1]]
    return [
        PlannedInstallment(no=k + 1, due_date=dues[k], period_start=starts[k],
                           principal=parts[k][0], interest=parts[k][1])
        for k in range(term_months)
    ]


def period_interest(annual_rate_bp: int, principal_days: int, days_in_period: int) -> int:
    """General interest of a period: round(r * sum of end-of-day principal / days)."""
    if days_in_period <= 0:
        return 0
    return round_half_up(monthly_rate(annual_rate_bp) * principal_days / days_in_period)
