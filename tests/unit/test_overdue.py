"""Overdue detection (SPEC section 3): penalty, grace, DPD, buckets, episode events.

Most tests use one installment of 36,000 fen principal at 1,800 bp: the
annual penalty rate is min(1800 * 1.5, 3600) = 2700 bp, so a day costs
round(36,000 * 2700 / 10000 / 360) = round(27) = 27 fen.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.config import ProductConfig
from domain.overdue import assess, daily_penalty

from .builders import inst, loan, penalty_per_day

CFG = ProductConfig()
DUE = date(2026, 3, 1)
PER_DAY = 27


def day(n: int) -> date:
    """The business date on which the installment due on DUE is ``n`` days late."""
    return DUE + timedelta(days=n - 1)


def late_loan(principal: int = 36_000, *, rate_bp: int = 1800, second: bool = True):
    rows = [inst("L1", 1, DUE, principal, 0)]
    if second:
        rows.append(inst("L1", 2, DUE + timedelta(days=31), 36_000, 0))
    return loan("L1", rows, rate_bp=rate_bp)


def kinds(outcome) -> list[str]:
    return [e.kind for e in outcome.events]


def pay_all_due(x, on: date) -> None:
    for i in x.installments:
        if i.due_date <= on:
            i.paid_principal, i.paid_interest, i.paid_penalty = i.principal, i.interest, i.penalty


# ------------------------------------------------------------------ penalty amount


@pytest.mark.parametrize(("unpaid", "rate_bp", "expected"), [
    (36_000, 1800, 27),     # 2700 bp: 36,000 * 0.27 / 360 = 27
    (39_406, 1800, 30),     # 29.5545 -> 30
    (2_000, 1800, 2),       # exactly 1.5 -> 2 (half up)
    (36_000, 2400, 36),     # 2400 * 1.5 = 3600 bp, exactly the cap
    (36_000, 3000, 36),     # 3000 * 1.5 = 4500 bp, capped at 3600 -> 36, not 45
    (36_000, 10_000, 36),   # any rate above 2400 bp is capped
    (0, 1800, 0),
])
def test_penalty_per_day_is_the_capped_rate_on_unpaid_principal(unpaid, rate_bp, expected):
    assert daily_penalty(unpaid, rate_bp, CFG) == expected


@given(unpaid=st.integers(0, 10**8), rate_bp=st.integers(0, 10_000))
def test_penalty_per_day_matches_the_spec_formula(unpaid, rate_bp):
    assert daily_penalty(unpaid, rate_bp, CFG) == penalty_per_day(unpaid, rate_bp)


def test_penalty_cap_and_multiplier_come_from_the_configuration():
    cfg = ProductConfig(penalty_rate_cap_bp=1800, penalty_multiplier="2")
    # 1000 * 2 = 2000 bp, capped at 1800: 36,000 * 0.18 / 360 = 18
    assert daily_penalty(36_000, 1000, cfg) == 18
    # 800 * 2 = 1600 bp: 36,000 * 0.16 / 360 = 16
    assert daily_penalty(36_000, 800, cfg) == 16


# ------------------------------------------------------------------ grace


def test_the_due_date_itself_is_within_grace_penalty_pending_not_booked():
    x = late_loan()
    out = assess([x], day(1), CFG)
    row = x.installments[0]
    assert row.penalty == 0 and row.pending_penalty == PER_DAY
    assert out.journals == []
    assert [(a.amount, a.booked) for a in out.accruals] == [(PER_DAY, False)]
    assert (x.status, x.dpd, x.bucket) == ("active", 1, "M1")
    assert "OVERDUE_STARTED" not in kinds(out)


def test_the_first_day_beyond_grace_books_both_days_together():
    x = late_loan()
    assess([x], day(1), CFG)
    out = assess([x], day(2), CFG)
    row = x.installments[0]
    assert row.penalty == 2 * PER_DAY and row.pending_penalty == 0
    assert len(out.journals) == 1
    journal = out.journals[0]
    assert journal.balanced()
    assert dict(journal.postings) == {"loan:L1:penalty": 54, "penalty_income": -54}
    assert journal.key == "penalty:L1:2026-03-02"
    assert out.booked_pending == [("L1", 1)]
    assert (x.status, x.dpd) == ("overdue", 2)
    assert kinds(out) == ["OVERDUE_STARTED"]


def test_penalty_within_grace_is_dropped_when_cleared_in_grace():
    x = late_loan()
    assess([x], day(1), CFG)
    pay_all_due(x, day(2))
    out = assess([x], day(2), CFG)
    row = x.installments[0]
    assert row.penalty == 0 and row.pending_penalty == 0
    assert out.dropped_pending == [("L1", 1)]
    assert out.journals == []
    assert (x.status, x.dpd, x.bucket) == ("active", 0, "C")
    assert kinds(out) == []


def test_with_a_longer_grace_all_pending_days_are_booked_at_once():
    cfg = ProductConfig(grace_days=3)
    x = late_loan()
    for n in (1, 2, 3):
        out = assess([x], day(n), cfg)
        assert out.journals == [] and x.status == "active"
    assert x.installments[0].pending_penalty == 3 * PER_DAY
    out = assess([x], day(4), cfg)
    assert x.installments[0].penalty == 4 * PER_DAY
    assert kinds(out) == ["OVERDUE_STARTED"]


def test_penalty_follows_the_unpaid_principal_after_the_days_deduction():
    x = late_loan()
    assess([x], day(1), CFG)
    x.installments[0].paid_principal = 12_000  # 24,000 left: 24,000 * 0.27 / 360 = 18
    assess([x], day(2), CFG)
    assert x.installments[0].penalty == PER_DAY + 18


# ------------------------------------------------------------------ once per day


def test_assessing_the_same_day_twice_books_nothing_the_second_time():
    x = late_loan()
    assess([x], day(1), CFG)
    assess([x], day(2), CFG)
    again = assess([x], day(2), CFG)
    assert x.installments[0].penalty == 2 * PER_DAY
    assert again.journals == [] and again.accruals == []
    assert kinds(again) == []


@given(st.lists(st.integers(1, 40), min_size=1, max_size=30))
def test_penalty_is_booked_at_most_once_per_installment_and_day(days_late_seq):
    x = late_loan(second=False)
    runs = sorted(days_late_seq)  # business dates only move forward; repeats re-run a day
    booked = 0
    for n in runs:
        out = assess([x], day(n), CFG)
        booked += sum(posting for j in out.journals for acct, posting in j.postings
                      if acct == "loan:L1:penalty")
    distinct = len(set(runs))
    row = x.installments[0]
    if max(runs) > CFG.grace_days:
        assert row.penalty == booked == PER_DAY * distinct
        assert row.pending_penalty == 0
    else:
        assert row.penalty == booked == 0
        assert row.pending_penalty == PER_DAY * distinct


# ------------------------------------------------------------------ DPD, buckets, events


@pytest.mark.parametrize(("dpd", "bucket"), [
    (0, "C"), (1, "M1"), (30, "M1"), (31, "M2"), (60, "M2"), (61, "M3"), (90, "M3"),
    (91, "M3+"), (400, "M3+"),
])
def test_buckets_follow_the_dpd_bands(dpd, bucket):
    assert CFG.bucket(dpd) == bucket


@pytest.mark.parametrize(("n", "bucket"), [(1, "M1"), (30, "M1"), (31, "M2"), (61, "M3"),
                                            (91, "M3+")])
def test_a_loans_dpd_is_the_days_late_of_its_oldest_overdue_installment(n, bucket):
    x = loan("L1", [inst("L1", 1, DUE, 10_000), inst("L1", 2, day(n), 10_000)])
    assess([x], day(n), CFG)
    assert (x.dpd, x.bucket) == (n, bucket)


def test_an_overdue_interest_or_penalty_alone_keeps_the_installment_overdue():
    x = loan("L1", [inst("L1", 1, DUE, 10_000, 500), inst("L1", 2, day(40), 10_000)])
    x.installments[0].paid_principal = 10_000
    assess([x], day(5), CFG)
    assert (x.status, x.dpd) == ("overdue", 5)
    assert x.installments[0].penalty == 0  # no unpaid principal, no penalty


def test_overdue_started_is_raised_once_per_episode_and_buckets_once_each():
    x = late_loan(second=False)
    seen = []
    for n in range(1, 101):
        seen += [(n, k) for k in kinds(assess([x], day(n), CFG))]
    assert seen == [(2, "OVERDUE_STARTED"), (31, "BUCKET_M2"), (61, "BUCKET_M3"),
                    (91, "BUCKET_M3_PLUS")]


def test_a_catch_up_jump_from_m1_to_m3_plus_emits_every_bucket_in_between():
    x = late_loan()
    assert kinds(assess([x], day(2), CFG)) == ["OVERDUE_STARTED"]
    out = assess([x], day(95), CFG)
    assert kinds(out) == ["BUCKET_M2", "BUCKET_M3", "BUCKET_M3_PLUS"]
    assert (x.dpd, x.bucket) == (95, "M3+")
    assert kinds(assess([x], day(96), CFG)) == []


def test_entering_overdue_late_gives_the_start_and_every_bucket_reached():
    x = late_loan()
    out = assess([x], day(70), CFG)
    assert kinds(out) == ["OVERDUE_STARTED", "BUCKET_M2", "BUCKET_M3"]


def test_clearing_ends_the_episode_and_a_new_one_starts_over():
    x = loan("L1", [inst("L1", 1, DUE, 10_000), inst("L1", 2, DUE + timedelta(days=40), 10_000)])
    assess([x], day(2), CFG)
    assess([x], day(35), CFG)
    pay_all_due(x, day(36))
    out = assess([x], day(36), CFG)
    assert kinds(out) == ["OVERDUE_CLEARED"]
    assert (x.status, x.dpd, x.bucket) == ("active", 0, "C")
    assert out.cleared_users == {"u1"} and out.status_changed_users == {"u1"}
    # installment 2 (due DUE + 40) is late on DUE + 41, i.e. day(42)
    assert kinds(assess([x], day(42), CFG)) == ["OVERDUE_STARTED"]
    assert kinds(assess([x], day(73), CFG)) == ["BUCKET_M2"]


def test_paying_everything_while_overdue_clears_and_pays_off_the_loan():
    x = late_loan(second=False)
    assess([x], day(5), CFG)
    pay_all_due(x, day(6))
    out = assess([x], day(6), CFG)
    assert kinds(out) == ["OVERDUE_CLEARED"]
    assert x.status == "paid_off"


def test_an_installment_fully_paid_on_its_due_date_is_an_on_time_repayment():
    x = loan("L1", [inst("L1", 1, DUE, 10_000), inst("L1", 2, DUE + timedelta(days=31), 10_000)])
    pay_all_due(x, DUE)
    out = assess([x], DUE, CFG)
    assert [(e.kind, e.detail) for e in out.events] == [("ON_TIME_REPAYMENT", 1)]
    assert x.status == "active"


def test_write_off_is_due_at_dpd_181_unless_the_loan_is_on_hold():
    x = late_loan()
    assess([x], day(2), CFG)
    assert "WRITE_OFF_DUE" not in kinds(assess([x], day(180), CFG))
    assert "WRITE_OFF_DUE" in kinds(assess([x], day(181), CFG))
    held = late_loan()
    held.on_hold = True
    assess([held], day(2), CFG)
    assert "WRITE_OFF_DUE" not in kinds(assess([held], day(181), CFG))


def test_loans_that_are_not_live_are_not_assessed():
    x = late_loan()
    x.status = "written_off"
    out = assess([x], day(10), CFG)
    assert out.events == [] and out.accruals == [] and x.installments[0].penalty == 0


@given(grace=st.integers(0, 4),
       payments=st.lists(st.integers(0, 15_000), min_size=1, max_size=12))
def test_penalty_over_consecutive_days_matches_an_independent_grace_model(grace, payments):
    """Pay some principal each day, assess each day; compare with SPEC 3 restated."""
    cfg = ProductConfig(grace_days=grace)
    x = late_loan(second=False)
    row = x.installments[0]
    pending = booked = 0
    for n, pay in enumerate(payments, start=1):
        row.paid_principal = min(row.principal, row.paid_principal + pay)
        unpaid = row.principal - row.paid_principal
        assess([x], day(n), cfg)
        if unpaid == 0 and booked == 0:
            pending = 0  # cleared within grace: dropped
            expected_status = "paid_off"
        else:
            amount = penalty_per_day(unpaid, 1800)
            if n > grace:
                booked += pending + amount
                pending = 0
            else:
                pending += amount
            expected_status = "overdue" if n > grace else "active"
        assert row.penalty == booked
        assert row.pending_penalty == pending
        assert x.status == expected_status
        if expected_status == "paid_off":
            break
