"""Credit-limit recalculation (SPEC section 5).

The neutral user of these tests has score 750 (base 10,000,000), 30 active
days (m_activity = 1/2 + 30/60 = 1), a loan drawn 10 days ago (not dormant)
and no risk signal, so the target is exactly 10,000,000.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.activity import Activity, fold
from domain.config import ProductConfig
from domain.limits import LimitState, activity_multiplier, multipliers, recalculate

CFG = ProductConfig()
D = date(2026, 6, 30)


def days_ago(n: int) -> date:
    return D - timedelta(days=n)


def activity(active: int = 30, *, inquiries=(), churn=(), decline: date | None = None,
             flagged: int = 0) -> Activity:
    return Activity(active_days=[days_ago(k) for k in range(active)],
                    inquiries=list(inquiries), churn=list(churn),
                    capacity_decline_on=decline, flagged_contacts=flagged)


def neutral(**changes) -> LimitState:
    base = LimitState(user_id="u1", score=750, limit=10_000_000, frozen=False, closed=False,
                      activity=activity(), last_disbursed=days_ago(10), last_increase=None,
                      last_base=10_000_000, overdue_history_pending=False)
    return replace(base, **changes)


def one(s: LimitState, cfg: ProductConfig = CFG, on: date = D):
    (decision,) = recalculate([s], on, cfg)
    return decision


# ------------------------------------------------------------------ target pieces


@pytest.mark.parametrize(("score", "base"), [
    (350, 0), (549, 0), (550, 100_000), (599, 100_000), (600, 500_000), (649, 500_000),
    (650, 2_000_000), (699, 2_000_000), (700, 5_000_000), (749, 5_000_000),
    (750, 10_000_000), (950, 10_000_000),
])
def test_base_limit_follows_the_score_bands(score, base):
    assert CFG.base_limit(score) == base


@given(st.integers(0, 90))
def test_activity_multiplier_is_one_half_plus_active_days_over_sixty_capped(days):
    s = neutral(activity=activity(days))
    assert activity_multiplier(s, D) == Fraction(1, 2) + Fraction(min(days, 60), 60)


def test_activity_days_older_than_ninety_days_do_not_count():
    a = Activity(active_days=[days_ago(89), days_ago(90), days_ago(200)])
    assert activity_multiplier(neutral(activity=a), D) == Fraction(1, 2) + Fraction(1, 60)


def test_several_activity_events_on_one_day_count_as_one_active_day():
    a = Activity()
    for kind in ("payment", "transfer", "red_packet", "life_payment", "wealth_purchase"):
        fold(a, kind, D)
    fold(a, "phone_change", D)
    assert a.active_days == [D]


@pytest.mark.parametrize(("changes", "new", "reason"), [
    ({"activity": activity(decline=days_ago(89))}, 5_000_000, "CAPACITY_DECLINE"),
    ({"activity": activity(inquiries=[days_ago(0), days_ago(10), days_ago(29)])},
     7_000_000, "MULTI_BORROWING"),
    ({"activity": activity(flagged=3)}, 7_000_000, "FLAGGED_CONTACTS"),
    ({"activity": activity(churn=[days_ago(5), days_ago(89)])}, 8_000_000, "IDENTITY_CHURN"),
    ({"last_disbursed": days_ago(180)}, 8_000_000, "DORMANT"),
    ({"last_disbursed": None}, 8_000_000, "DORMANT"),
])
def test_each_capacity_multiplier_cuts_the_limit_with_its_reason(changes, new, reason):
    decision = one(neutral(**changes))
    assert (decision.old, decision.new) == (10_000_000, new)
    assert decision.reasons == (reason,)


@pytest.mark.parametrize("changes", [
    {"activity": activity(decline=days_ago(90))},
    {"activity": activity(inquiries=[days_ago(0), days_ago(10), days_ago(30)])},
    {"activity": activity(inquiries=[days_ago(0), days_ago(1)])},
    {"activity": activity(flagged=2)},
    {"activity": activity(churn=[days_ago(5), days_ago(90)])},
    {"last_disbursed": days_ago(179)},
])
def test_signals_below_the_threshold_or_out_of_the_window_change_nothing(changes):
    decision = one(neutral(**changes))
    assert not decision.changed and decision.reasons == ()


def test_a_zero_limit_is_never_dormant():
    assert "DORMANT" not in multipliers(neutral(limit=0, last_disbursed=None), D, CFG)


def test_multipliers_combine_exactly_before_the_rounding_down():
    # 10,000,000 * 1/2 * 7/10 * 7/10 * 4/5 * 4/5 = 1,568,000 -> 1,560,000
    a = activity(decline=days_ago(1), inquiries=[days_ago(1)] * 3, churn=[days_ago(1)] * 2,
                 flagged=3)
    decision = one(neutral(activity=a, last_disbursed=None))
    assert decision.new == 1_560_000
    assert set(decision.reasons) == {"CAPACITY_DECLINE", "MULTI_BORROWING", "FLAGGED_CONTACTS",
                                     "IDENTITY_CHURN", "DORMANT"}


def test_low_activity_and_a_lower_score_are_named_on_a_cut():
    # score 700: base 5,000,000, 6 active days: m = 1/2 + 1/10 = 3/5 -> 3,000,000
    decision = one(neutral(score=700, activity=activity(6)))
    assert decision.new == 3_000_000
    assert set(decision.reasons) == {"LOW_ACTIVITY", "SCORE_DOWN"}


# ------------------------------------------------------------------ increases


@pytest.mark.parametrize(("old", "new"), [
    (1_000_000, 1_200_000),   # +20%
    (1_234_567, 1_480_000),   # + 246,913.4 = 1,481,480.4 -> rounded down to 1,480,000
    (200_000, 300_000),       # 20% is 40,000: the floor +100,000 applies
    (0, 100_000),             # a zero limit can grow
])
def test_an_increase_is_capped_at_twenty_percent_or_100000_and_rounded_down(old, new):
    decision = one(neutral(limit=old, activity=activity(60)))  # target 15,000,000
    assert (decision.old, decision.new) == (old, new)
    assert decision.last_increase == D
    assert "SPENDING_UP" in decision.reasons


def test_an_increase_below_the_cap_reaches_the_target_rounded_down():
    # score 600: 500,000 * (1/2 + 45/60) = 625,000; old 600,000 (+20% = 720,000)
    decision = one(neutral(score=600, limit=600_000, activity=activity(45), last_base=500_000))
    assert decision.new == 620_000
    assert decision.reasons == ("SPENDING_UP",)


def test_a_higher_score_band_is_named_on_a_rise():
    decision = one(neutral(limit=5_000_000, last_base=5_000_000))
    assert decision.new == 6_000_000
    assert decision.reasons == ("SCORE_UP",)


def test_only_one_increase_per_thirty_days():
    s = neutral(limit=1_000_000, last_increase=days_ago(29))
    assert not one(s).changed
    decision = one(replace(s, last_increase=days_ago(30)))
    assert decision.new == 1_200_000


def test_decreases_apply_at_once_even_right_after_an_increase():
    s = neutral(limit=10_000_000, last_increase=days_ago(1), activity=activity(0))
    assert one(s).new == 5_000_000  # 10,000,000 * 1/2


def test_while_frozen_only_decreases_apply():
    assert not one(neutral(limit=1_000_000, frozen=True)).changed
    decision = one(neutral(frozen=True, activity=activity(decline=days_ago(3))))
    assert decision.new == 5_000_000


def test_overdue_history_halves_once_on_the_first_recalculation_after_clearing():
    first = one(neutral(overdue_history_pending=True))
    assert first.new == 5_000_000
    assert "OVERDUE_HISTORY" in first.reasons
    assert first.overdue_history_pending is False
    later = one(neutral(limit=5_000_000, overdue_history_pending=False,
                        last_increase=first.last_increase), on=D + timedelta(days=30))
    assert later.new == 6_000_000  # back up, capped at +20%


def test_overdue_history_waits_while_the_user_is_still_frozen():
    decision = one(neutral(overdue_history_pending=True, frozen=True))
    assert not decision.changed
    assert decision.overdue_history_pending is True


def test_a_closed_account_gets_limit_zero_with_account_closed():
    decision = one(neutral(closed=True))
    assert (decision.old, decision.new, decision.reasons) == (10_000_000, 0, ("ACCOUNT_CLOSED",))


def test_the_hard_cap_applies_last():
    cfg = ProductConfig(limit_base_table=[[0, 0], [750, 40_000_000]])
    # target 40,000,000 * 3/2 = 60,000,000; old 29,000,000 + 20% = 34,800,000 -> 30,000,000
    decision = one(neutral(limit=29_000_000, activity=activity(60)), cfg)
    assert decision.new == 30_000_000
    cut = one(neutral(limit=2_000_000, activity=activity(60)),
              ProductConfig(limit_hard_cap=1_000_000))
    assert cut.new == 1_000_000


@given(old=st.integers(0, 40_000_000), score=st.integers(350, 950),
       days=st.integers(0, 90), frozen=st.booleans())
def test_a_new_limit_is_a_multiple_of_10000_within_the_hard_cap_or_unchanged(
        old, score, days, frozen):
    decision = one(neutral(limit=old, score=score, activity=activity(days), frozen=frozen))
    assert decision.new == old or (decision.new % 10_000 == 0 and decision.new <= 30_000_000)
    if frozen:
        assert decision.new <= old
    if decision.new > old:
        step = max(Fraction(old) / 5, 100_000)
        assert decision.new <= old + step


# ------------------------------------------------------------------ exactness


def spec_new_limit(s: LimitState, on: date, cfg: ProductConfig) -> int:
    """SPEC 5 read literally, with Fractions: the reference the integer code must equal."""
    from domain.money import round_down

    base = cfg.base_limit(s.score)
    if s.closed:
        return 0
    target = Fraction(base) * activity_multiplier(s, on)
    for f in multipliers(s, on, cfg).values():
        target *= f
    if s.overdue_history_pending and not s.frozen:
        target /= 2
    new = s.limit
    if target < s.limit:
        new = round_down(target, 10_000)
    elif target > s.limit and not s.frozen and (
            s.last_increase is None
            or (on - s.last_increase).days >= cfg.limit_increase_interval_days):
        step = max(s.limit * Fraction(cfg.limit_increase_cap),
                   Fraction(cfg.limit_increase_floor))
        new = max(s.limit, round_down(min(target, s.limit + step), 10_000))
    return min(new, cfg.limit_hard_cap)


@given(score=st.integers(300, 960), limit=st.integers(0, 40_000_000),
       active=st.integers(0, 90), inquiries=st.integers(0, 4), churn=st.integers(0, 3),
       decline=st.booleans(), flagged=st.integers(0, 4), frozen=st.booleans(),
       history=st.booleans(), drawn=st.integers(0, 400), raised=st.none() | st.integers(0, 60),
       cap=st.sampled_from(["0.2", "0.35", "0.07", "1"]),
       floor=st.sampled_from([100000, 12345, 0]),
       dormant=st.sampled_from(["0.8", "0.33", "1.25"]))
def test_the_new_limit_is_exactly_the_rule_computed_with_fractions(
        score, limit, active, inquiries, churn, decline, flagged, frozen, history, drawn,
        raised, cap, floor, dormant):
    cfg = ProductConfig(limit_increase_cap=cap, limit_increase_floor=floor,
                        limit_multipliers={"DORMANT": dormant})
    s = neutral(score=score, limit=limit, frozen=frozen, overdue_history_pending=history,
                activity=activity(active, inquiries=[days_ago(k) for k in range(inquiries)],
                                  churn=[days_ago(k) for k in range(churn)],
                                  decline=days_ago(5) if decline else None, flagged=flagged),
                last_disbursed=days_ago(drawn),
                last_increase=None if raised is None else days_ago(raised))
    assert one(s, cfg).new == spec_new_limit(s, D, cfg)
