"""SPEC 12: the audit window 08:00-24:00 local time and the 48-hour expiry."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain import applications as ap

ZONE = "Asia/Shanghai"
HOURS = ("08:00", "24:00")
SUBMITTED = datetime(2026, 3, 1, 12, 0, tzinfo=ZoneInfo(ZONE))


def _audit(at: datetime, outcome: str = "approved", ineligible: str | None = None,
           status: str | None = ap.AWAITING_AUDIT) -> ap.Outcome:
    return ap.on_audit(status, SUBMITTED, at, outcome, ineligible, audit_hours=HOURS,
                       audit_window_hours=48, zone=ZONE)


def _local(day: int, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 3, day, hh, mm, ss, tzinfo=ZoneInfo(ZONE))


@pytest.mark.parametrize(("hh", "mm", "ss", "inside"), [
    (7, 59, 59, False), (8, 0, 0, True), (23, 59, 0, True), (23, 59, 59, True), (0, 0, 0, False)])
def test_audit_hours_start_at_eight_and_end_before_midnight(
        hh: int, mm: int, ss: int, inside: bool) -> None:
    assert ap.in_audit_hours(_local(2, hh, mm, ss), HOURS, ZONE) is inside


def test_audit_hours_are_read_in_the_business_zone_not_in_utc() -> None:
    at = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
    assert ap.in_audit_hours(at, HOURS, ZONE)
    assert not ap.in_audit_hours(at, HOURS, "UTC")


def test_an_audit_at_seven_fifty_nine_is_refused_and_the_application_keeps_waiting() -> None:
    assert _audit(_local(2, 7, 59)) == ap.Outcome(None, ap.AUDIT_HOURS)


def test_an_approved_audit_at_eight_disburses_and_a_rejected_one_rejects() -> None:
    assert _audit(_local(2, 8, 0)).disburse
    assert _audit(_local(2, 23, 59), "rejected") == ap.Outcome(ap.REJECTED)


def test_an_approved_audit_of_an_applicant_no_longer_eligible_refuses_with_the_reason() -> None:
    assert _audit(_local(2, 9, 0), ineligible="IDENTITY_EXPIRED") == ap.Outcome(
        ap.REFUSED, "IDENTITY_EXPIRED")


def test_an_application_expires_at_exactly_forty_eight_hours() -> None:
    deadline = SUBMITTED + timedelta(hours=48)
    assert not ap.expired(SUBMITTED, deadline - timedelta(microseconds=1), 48)
    assert ap.expired(SUBMITTED, deadline, 48)
    assert _audit(deadline - timedelta(minutes=1)).disburse
    assert _audit(deadline) == ap.Outcome(ap.CANCELLED, ap.APPLICATION_EXPIRED)


def test_expiry_wins_over_audit_hours() -> None:
    late_night = _local(4, 2, 0)  # past the deadline and outside the hours
    assert _audit(late_night) == ap.Outcome(ap.CANCELLED, ap.APPLICATION_EXPIRED)
    assert _audit(late_night, status=ap.CANCELLED) == ap.Outcome(None, ap.APPLICATION_EXPIRED)


def test_an_audit_of_an_unknown_or_decided_application_is_refused() -> None:
    assert ap.on_audit(None, None, _local(2, 9, 0), "approved", None, audit_hours=HOURS,
                       audit_window_hours=48, zone=ZONE).reason == ap.UNKNOWN_APPLICATION
    assert _audit(_local(2, 9, 0), status=ap.DISBURSED) == ap.Outcome(None,
                                                                      ap.APPLICATION_CLOSED)


def test_an_apply_is_refused_as_a_duplicate_before_eligibility_is_looked_at() -> None:
    assert ap.on_apply(True, "AGE_OUT_OF_RANGE") == ap.Outcome(None, ap.DUPLICATE_APPLICATION)
    assert ap.on_apply(False, "AGE_OUT_OF_RANGE") == ap.Outcome(ap.REFUSED, "AGE_OUT_OF_RANGE")
    assert ap.on_apply(False, None) == ap.Outcome(ap.AWAITING_AUDIT)


def test_a_local_time_on_a_business_date_is_an_instant_in_the_zone() -> None:
    assert ap.local_instant(SUBMITTED.date(), time(12, 0), ZONE) == SUBMITTED
