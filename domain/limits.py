"""Credit-limit recalculation (SPEC section 5).

Target = base(score) * m_activity * m_capacity, exactly; then the
OVERDUE_HISTORY halving, the increase cap and interval, the rounding down to
10,000 and the hard cap. Decreases apply at once; while frozen only decreases
apply. Every change carries the reason codes that moved it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from domain import activity as act
from domain.config import ProductConfig

ROUNDING = 10_000
DORMANT_DAYS = 180


@dataclass(frozen=True, slots=True)
class LimitState:
    user_id: str
    score: int
    limit: int
    frozen: bool
    closed: bool
    activity: act.Activity
    last_disbursed: date | None
    last_increase: date | None
    last_base: int | None
    overdue_history_pending: bool
    # SPEC 12: an expired identity document freezes the limit like an overdue.
    identity_expired: bool = False


@dataclass(frozen=True, slots=True)
class LimitDecision:
    user_id: str
    old: int
    new: int
    reasons: tuple[str, ...]
    last_increase: date | None
    last_base: int
    overdue_history_pending: bool

    @property
    def changed(self) -> bool:
        return self.old != self.new


def _fractions(config: ProductConfig) -> dict[str, Fraction]:
    return {k: Fraction(v) for k, v in config.limit_multipliers.items()}


def multipliers(state: LimitState, on: date, config: ProductConfig,
                m: dict[str, Fraction] | None = None) -> dict[str, Fraction]:
    """The capacity multipliers in force for this user on ``on``, by reason code."""
    m = m if m is not None else _fractions(config)
    return _multipliers(state, _Windows.ending(on), m)


@dataclass(frozen=True, slots=True)
class _Windows:
    """The first day of each rolling window ending on ``on`` (a day counts from its
    window's first day through ``on``, as ``domain.activity`` counts it), worked out once
    for a chunk of users rather than once per user and window."""

    on: date
    activity: date
    inquiry: date
    churn: date
    capacity: date
    dormant: date  # a last draw on or before this day makes the user dormant

    @classmethod
    def ending(cls, on: date) -> _Windows:
        return cls(on, act.first_day(on, act.ACTIVITY_WINDOW),
                   act.first_day(on, act.INQUIRY_WINDOW), act.first_day(on, act.CHURN_WINDOW),
                   act.first_day(on, act.CAPACITY_WINDOW), on - timedelta(days=DORMANT_DAYS))


def _multipliers(state: LimitState, w: _Windows, m: dict[str, Fraction]
                 ) -> dict[str, Fraction]:
    found: dict[str, Fraction] = {}
    a = state.activity
    on = w.on
    cap = a.capacity_decline_on
    if cap is not None and w.capacity <= cap <= on:
        found["CAPACITY_DECLINE"] = m["CAPACITY_DECLINE"]
    if a.inquiries and act.count_between(a.inquiries, w.inquiry, on) >= 3:
        found["MULTI_BORROWING"] = m["MULTI_BORROWING"]
    if a.flagged_contacts >= 3:
        found["FLAGGED_CONTACTS"] = m["FLAGGED_CONTACTS"]
    if a.churn and act.count_between(a.churn, w.churn, on) >= 2:
        found["IDENTITY_CHURN"] = m["IDENTITY_CHURN"]
    if state.limit > 0 and (state.last_disbursed is None or state.last_disbursed <= w.dormant):
        found["DORMANT"] = m["DORMANT"]
    return found


def activity_multiplier(state: LimitState, on: date) -> Fraction:
    return Fraction(1, 2) + Fraction(min(act.active_days(state.activity, on), 60), 60)


def recalculate(states: Sequence[LimitState], on: date,
                config: ProductConfig) -> list[LimitDecision]:
    m = _fractions(config)
    increase_cap = Fraction(config.limit_increase_cap)
    w = _Windows.ending(on)
    increase_by = on - timedelta(days=config.limit_increase_interval_days)
    bases: dict[int, int] = {}  # a chunk's users share a few hundred scores
    return [_recalculate(s, w, increase_by, config, m, increase_cap, bases) for s in states]


def _recalculate(s: LimitState, w: _Windows, increase_by: date, config: ProductConfig,
                 m: dict[str, Fraction], increase_cap: Fraction,
                 bases: dict[int, int]) -> LimitDecision:
    """Exact, in integers: a fraction is kept as (numerator, denominator), which for a
    chunk of users is several times faster than ``Fraction`` and gives the same result.
    ``increase_by``: a last increase on or before it lets the limit rise again."""
    on = w.on
    base = bases.get(s.score)
    if base is None:
        base = bases[s.score] = config.base_limit(s.score)
    if s.closed:
        return LimitDecision(s.user_id, s.limit, 0, ("ACCOUNT_CLOSED",), s.last_increase,
                             base, False)
    caps = _multipliers(s, w, m)
    days = min(act.count_between(s.activity.active_days, w.activity, on), 60)
    # target = base * (1/2 + days/60) * caps [/ 2] = num / den
    num, den = base * (30 + days), 60
    for factor in caps.values():
        num, den = num * factor.numerator, den * factor.denominator
    halved = s.overdue_history_pending and not s.frozen
    if halved:
        den *= 2
    old = s.limit
    new = old
    last_increase = s.last_increase
    if num < old * den:
        new = num // (den * ROUNDING) * ROUNDING
    elif num > old * den and not (s.frozen or s.identity_expired) and (
            last_increase is None or last_increase <= increase_by):
        # step = max(old * cap, floor); raised = round_down(min(target, old + step))
        cap_n, cap_d = increase_cap.numerator, increase_cap.denominator
        floor = config.limit_increase_floor
        step_n, step_d = (old * cap_n, cap_d) if old * cap_n >= floor * cap_d else (floor, 1)
        up_n, up_d = old * step_d + step_n, step_d
        if num * up_d <= up_n * den:
            up_n, up_d = num, den
        raised = up_n // (up_d * ROUNDING) * ROUNDING
        if raised > old:
            new = raised
    new = min(new, config.limit_hard_cap)
    if new > old:
        last_increase = on
    reasons = _reasons(new - old, caps, 30 + days - 60, base, s.last_base, halved)
    if new < old and s.identity_expired:
        reasons = (*reasons, "IDENTITY_EXPIRED")
    pending = s.overdue_history_pending and not halved
    return LimitDecision(s.user_id, old, new, reasons, last_increase, base, pending)


def _reasons(change: int, caps: dict[str, Fraction], activity_sign: int, base: int,
             last_base: int | None, halved: bool) -> tuple[str, ...]:
    """``activity_sign``: below, at or above zero as m_activity is below, at or above 1."""
    if change == 0:
        return ()
    if change < 0:
        codes = [code for code, f in caps.items() if f.numerator < f.denominator]  # f < 1
        if activity_sign < 0:
            codes.append("LOW_ACTIVITY")
        if last_base is not None and base < last_base:
            codes.append("SCORE_DOWN")
        if halved:
            codes.append("OVERDUE_HISTORY")
        return tuple(codes) or ("SCORE_DOWN",)
    codes = [code for code, f in caps.items() if f.numerator > f.denominator]  # f > 1
    if activity_sign > 0:
        codes.append("SPENDING_UP")
    if last_base is not None and base > last_base:
        codes.append("SCORE_UP")
    return tuple(codes) or ("SCORE_UP",)
