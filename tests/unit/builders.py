"""Hand-made domain objects and independent arithmetic for the unit tests.

Installments are written out by hand here (never produced by the schedule
code under test), and the SPEC formulas the tests need are re-stated below
with ``fractions.Fraction`` so that every expected figure is computed
independently of ``domain``.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from fractions import Fraction

from domain.model import Installment, Loan, User


def half_up(x: Fraction | int) -> int:
    """SPEC rounding for non-negative amounts: half-up to the fen."""
    return math.floor(Fraction(x) + Fraction(1, 2))


def annuity(principal: int, annual_rate_bp: int, n: int) -> int:
    """SPEC 1: A = round(P*r/(1-(1+r)^-n)), r = R/10000/12."""
    r = Fraction(annual_rate_bp, 120000)
    return half_up(principal * r / (1 - 1 / (1 + r) ** n))


def amortise(principal: int, annual_rate_bp: int, n: int) -> list[tuple[int, int]]:
    """SPEC 1 schedule as (principal, interest) rows, written independently."""
    r = Fraction(annual_rate_bp, 120000)
    if r == 0:
        rows = [(principal // n, 0)] * (n - 1)
        return [*rows, (principal - (principal // n) * (n - 1), 0)]
    a = annuity(principal, annual_rate_bp, n)
    rows = []
    left = principal
    for k in range(1, n + 1):
        interest = half_up(left * r)
        part = left if k == n else a - interest
        rows.append((part, interest))
        left -= part
    return rows


def penalty_per_day(unpaid: int, annual_rate_bp: int, mult: Fraction = Fraction(3, 2),
                    cap_bp: int = 3600) -> int:
    """SPEC 3: round(unpaid * min(R*1.5, cap) / 10000 / 360)."""
    return half_up(unpaid * min(annual_rate_bp * mult, cap_bp) / 10000 / 360)


def inst(loan_id: str, no: int, due: date, principal: int, interest: int = 0, *,
         penalty: int = 0, start: date | None = None) -> Installment:
    return Installment(loan_id=loan_id, no=no, due_date=due,
                       period_start=start or due - timedelta(days=30),
                       principal=principal, interest=interest, penalty=penalty)


def loan(loan_id: str, rows: list[Installment], *, user: str = "u1", rate_bp: int = 1800,
         disbursed: date = date(2026, 1, 15), status: str = "active") -> Loan:
    return Loan(id=loan_id, user_id=user, principal=sum(i.principal for i in rows),
                annual_rate_bp=rate_bp, term_months=len(rows), disbursed=disbursed,
                status=status, installments=rows)


def standard_loan(loan_id: str = "L1", user: str = "u1") -> Loan:
    """120,000 fen at 1,800 bp over 3 months from 2026-01-15, schedule by hand:

    r = 3/200; A = round(120000 r / (1 - (1+r)^-3)) = round(41206.05) = 41206
    k=1: interest round(120000 r) = 1800, principal 39406
    k=2: interest round(80594 r) = round(1208.91) = 1209, principal 39997
    k=3: interest round(40597 r) = round(608.955) = 609, principal 40597
    """
    return loan(loan_id, [
        inst(loan_id, 1, date(2026, 2, 15), 39406, 1800, start=date(2026, 1, 15)),
        inst(loan_id, 2, date(2026, 3, 15), 39997, 1209, start=date(2026, 2, 15)),
        inst(loan_id, 3, date(2026, 4, 15), 40597, 609, start=date(2026, 3, 15)),
    ], user=user)


def user(user_id: str = "u1", *, score: int = 600, limit: int = 0, wallet: int = 0,
         fund: int = 0, card: bool = True) -> User:
    """A user; with ``card`` a linked card (its token ``tok-<id>``), else none."""
    return User(id=user_id, score=score, limit=limit, wallet=wallet, fund=fund,
                card_token=f"tok-{user_id}" if card else None)


def posting_sum(postings: tuple[tuple[str, int], ...]) -> int:
    return sum(a for _, a in postings)
