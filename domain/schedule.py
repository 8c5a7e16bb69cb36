"""Loan schedules (SPEC section 1): equal monthly installments on a declining balance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from domain.money import add_months, monthly_rate, round_half_up


@dataclass(frozen=True, slots=True)
class PlannedInstallment:
    no: int
    due_date: date
    period_start: date
    principal: int
    interest: int


def annuity_payment(principal: int, annual_rate_bp: int, term_months: int) -> int:
    r = monthly_rate(annual_rate_bp)
    if r == 0:
        return round_half_up(Fraction(principal, term_months))
    factor = 1 - (1 + r) ** -term_months
    return round_half_up(principal * r / factor)


def split_principal(principal: int, annual_rate_bp: int, count: int) -> list[tuple[int, int]]:
    """(principal, interest) of ``count`` installments on ``principal``, SPEC section 1."""
    if count <= 0:
        return []
    r = monthly_rate(annual_rate_bp)
    if r == 0:
        even = principal // count
        parts = [(even, 0) for _ in range(count - 1)]
        parts.append((principal - even * (count - 1), 0))
        return parts
    payment = annuity_payment(principal, annual_rate_bp, count)
    remaining = principal
    parts = []
    for k in range(1, count + 1):
        interest = round_half_up(remaining * r)
        part = remaining if k == count else min(payment - interest, remaining)
        part = max(part, 0)
        parts.append((part, interest))
        remaining -= part
    return parts


def due_dates(disbursed: date, term_months: int) -> list[date]:
    return [add_months(disbursed, k) for k in range(1, term_months + 1)]


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
