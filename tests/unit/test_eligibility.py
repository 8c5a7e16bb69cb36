"""SPEC 12: eligibility on a date, checked in order; the first failure is the reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from domain import eligibility as el

AGES = (18, 60)
OK = el.Applicant("u1", closed=False, overdue=False, birth_date=date(1990, 5, 1),
                  identity_verified=True, identity_expires=date(2030, 1, 1), available=100_000)


@pytest.mark.parametrize(("on", "age"), [
    (date(2026, 4, 30), 35), (date(2026, 5, 1), 36), (date(2026, 5, 2), 36)])
def test_an_age_grows_by_one_on_the_birthday_itself(on: date, age: int) -> None:
    assert el.age_on(date(1990, 5, 1), on) == age


@pytest.mark.parametrize(("on", "age"), [
    (date(2026, 2, 28), 17), (date(2026, 3, 1), 18), (date(2028, 2, 28), 19),
    (date(2028, 2, 29), 20)])
def test_a_leap_day_birthday_counts_on_the_first_of_march_in_common_years(
        on: date, age: int) -> None:
    assert el.age_on(date(2008, 2, 29), on) == age


def test_an_applicant_turning_eighteen_today_is_eligible_and_yesterday_was_not() -> None:
    who = replace(OK, birth_date=date(2008, 6, 10))
    assert el.refusal(who, 1, date(2026, 6, 10), AGES) is None
    assert el.refusal(who, 1, date(2026, 6, 9), AGES) == el.AGE_OUT_OF_RANGE


def test_sixty_is_inside_the_range_and_sixty_one_is_out() -> None:
    who = replace(OK, birth_date=date(1966, 3, 1))
    assert el.refusal(who, 1, date(2027, 2, 28), AGES) is None  # 60
    assert el.refusal(who, 1, date(2027, 3, 1), AGES) == el.AGE_OUT_OF_RANGE  # 61


@pytest.mark.parametrize(("on", "reason"), [
    (date(2026, 7, 14), None), (date(2026, 7, 15), None),
    (date(2026, 7, 16), el.IDENTITY_EXPIRED)])
def test_an_identity_is_valid_through_its_expiry_date_and_expired_the_day_after(
        on: date, reason: str | None) -> None:
    who = replace(OK, identity_expires=date(2026, 7, 15))
    assert el.refusal(who, 1, on, AGES) == reason


def test_the_first_failing_check_in_the_spec_order_is_the_reason() -> None:
    worst = el.Applicant("u1", closed=True, overdue=True, birth_date=date(2015, 1, 1),
                         identity_verified=False, identity_expires=date(2020, 1, 1), available=0)
    on, seen = date(2026, 1, 1), []
    for fix in ({"closed": False}, {"overdue": False}, {"birth_date": date(1990, 1, 1)},
                {"identity_verified": True}, {"identity_expires": None}, {"available": 5}):
        seen.append(el.refusal(worst, 5, on, AGES))
        worst = replace(worst, **fix)
    seen.append(el.refusal(worst, 5, on, AGES))
    assert seen == [*el.REASONS, None]


def test_a_principal_equal_to_the_available_limit_is_allowed_and_one_fen_more_is_not() -> None:
    assert el.refusal(OK, 100_000, date(2026, 1, 1), AGES) is None
    assert el.refusal(OK, 100_001, date(2026, 1, 1), AGES) == el.LIMIT_EXCEEDED


def test_a_user_without_a_birth_date_is_not_refused_for_age() -> None:
    assert el.refusal(replace(OK, birth_date=None), 1, date(2026, 1, 1), AGES) is None
