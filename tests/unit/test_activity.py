"""Rolling activity and risk-signal windows (SPEC section 5)."""

from __future__ import annotations

from datetime import date, timedelta

from domain import activity as act

D = date(2026, 6, 30)


def test_windows_count_today_and_the_days_before_it():
    a = act.Activity()
    for back in (0, 29, 30):
        act.fold(a, "multi_borrowing_inquiry", D - timedelta(days=back))
    # within the last 30 days: D and D-29 (D-30 is the 31st day back)
    assert act.inquiries(a, D) == 2
    b = act.Activity()
    for back in (89, 90):
        act.fold(b, "card_change", D - timedelta(days=back))
    assert act.churn(b, D) == 1


def test_capacity_decline_lasts_ninety_days():
    a = act.fold(act.Activity(), "job_loss", D)
    assert act.capacity_declined(a, D + timedelta(days=89))
    assert not act.capacity_declined(a, D + timedelta(days=90))
    act.fold(a, "provident_fund_stopped", D + timedelta(days=60))
    assert act.capacity_declined(a, D + timedelta(days=149))


def test_flagged_contacts_accumulate_and_the_record_round_trips_through_json():
    a = act.Activity()
    for k in range(3):
        act.fold(a, "flagged_contact", D + timedelta(days=k))
    act.fold(a, "payment", D)
    act.fold(a, "payment", D)
    assert a.flagged_contacts == 3 and a.active_days == [D]
    assert act.Activity.from_json(a.to_json()) == a
    assert act.Activity.from_json(None) == act.Activity()


def test_a_signal_that_occurred_after_the_step_s_date_does_not_count_in_it() -> None:
    from datetime import date as _d

    from domain import activity as act

    a = act.Activity()
    for kind in ("payment", "multi_borrowing_inquiry", "phone_change", "job_loss"):
        act.fold(a, kind, _d(2026, 3, 2))
    on = _d(2026, 3, 1)
    assert (act.active_days(a, on), act.inquiries(a, on), act.churn(a, on),
            act.capacity_declined(a, on)) == (0, 0, 0, False)
    later = _d(2026, 3, 2)
    assert (act.active_days(a, later), act.inquiries(a, later), act.churn(a, later),
            act.capacity_declined(a, later)) == (1, 1, 1, True)
