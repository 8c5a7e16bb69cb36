"""Exact money arithmetic and business-calendar helpers.

Money is integer fen; rates are basis points. Every rounding in the SPEC is
half-up to the fen, done on exact fractions so that no binary float ever
touches an amount.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

Rational = Fraction | int | Decimal


def as_fraction(value: Rational) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(value)


def round_half_up(value: Rational) -> int:
    """Round to the nearest fen, halves away from zero."""
    v = as_fraction(value)
    if v >= 0:
        return int((v + Fraction(1, 2)).__floor__())
    return -int((-v + Fraction(1, 2)).__floor__())


def round_down(value: Rational, step: int) -> int:
    """Round a non-negative amount down to a multiple of ``step``."""
    v = as_fraction(value)
    return int(v // step) * step


def add_months(start: date, months: int) -> date:
    """``start`` plus calendar months, clamped to the month's last day."""
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def days_between(earlier: date, later: date) -> int:
    return (later - earlier).days


def date_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def is_month_end(day: date) -> bool:
    return (day + timedelta(days=1)).month != day.month


def monthly_rate(annual_rate_bp: int) -> Fraction:
    return Fraction(annual_rate_bp, 10000 * 12)


def yuan(fen: int) -> str:
    """Format fen as yuan with two decimals, for people."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"
