"""The product configuration (SPEC section 10)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.config import ConfigError, ProductConfig


def test_defaults_equal_the_numbers_of_the_spec():
    c = ProductConfig()
    assert c.time_zone == "Asia/Shanghai"
    assert c.grace_days == 1
    assert c.penalty_multiplier == Decimal("1.5")
    assert c.penalty_rate_cap_bp == 3600
    assert c.fund_daily_redemption_cap == 1_000_000
    assert c.deduct_attempt_times == ["06:00", "17:00"]
    assert c.late_attempts_after_days == 30
    assert c.bucket_bounds == [30, 60, 90]
    assert (c.score_min, c.score_max) == (350, 950)
    assert c.score_deltas == {
        "OVERDUE_STARTED": -50, "BUCKET_M2": -30, "BUCKET_M3": -30, "BUCKET_M3_PLUS": -40,
        "WRITTEN_OFF": -50, "EXTERNAL_OVERDUE": -30, "OVERDUE_CLEARED": 10,
        "ON_TIME_REPAYMENT": 2}
    assert c.external_overdue_interval_days == 30
    assert c.limit_base_table == [(0, 0), (550, 100_000), (600, 500_000), (650, 2_000_000),
                                  (700, 5_000_000), (750, 10_000_000)]
    assert c.limit_multipliers == {
        "CAPACITY_DECLINE": Decimal("0.5"), "MULTI_BORROWING": Decimal("0.7"),
        "FLAGGED_CONTACTS": Decimal("0.7"), "IDENTITY_CHURN": Decimal("0.8"),
        "DORMANT": Decimal("0.8")}
    assert c.limit_hard_cap == 30_000_000
    assert c.limit_increase_cap == Decimal("0.2")
    assert c.limit_increase_floor == 100_000
    assert c.limit_increase_interval_days == 30
    assert c.limit_recalc_interval_days == 30
    assert (c.internal_case_dpd, c.handoff_dpd, c.write_off_dpd) == (4, 91, 181)
    assert c.reminder_window == ["08:00", "21:00"]
    assert c.due_soon_days == 3
    assert c.application_audit_hours == 48


def test_an_empty_or_missing_config_is_the_defaults():
    assert ProductConfig.from_mapping(None) == ProductConfig()
    assert ProductConfig.from_mapping({}) == ProductConfig()


def test_known_keys_override_the_defaults():
    c = ProductConfig.from_mapping({"grace_days": 3, "penalty_multiplier": 2,
                                    "limit_multipliers": {"DORMANT": 0.5},
                                    "score_deltas": {"ON_TIME_REPAYMENT": 5}})
    assert c.grace_days == 3
    assert c.penalty_multiplier == Decimal(2)
    assert c.limit_multipliers["DORMANT"] == Decimal("0.5")
    assert c.limit_multipliers["MULTI_BORROWING"] == Decimal("0.7")
    assert c.score_deltas["ON_TIME_REPAYMENT"] == 5
    assert c.score_deltas["OVERDUE_STARTED"] == -50


def test_an_unknown_key_is_an_error_naming_the_key():
    with pytest.raises(ConfigError) as exc:
        ProductConfig.from_mapping({"grace_days": 1, "grace_dayz": 2})
    assert exc.value.field == "grace_dayz"
    assert "grace_dayz" in str(exc.value)


@pytest.mark.parametrize(("data", "field"), [
    ({"grace_days": "1"}, "grace_days"),
    ({"penalty_rate_cap_bp": 3600.5}, "penalty_rate_cap_bp"),
    ({"write_off_dpd": True}, "write_off_dpd"),
    ({"deduct_attempt_times": "06:00"}, "deduct_attempt_times"),
    ({"deduct_attempt_times": ["6am"]}, "deduct_attempt_times"),
    ({"bucket_bounds": [30, 60]}, "bucket_bounds"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"score_deltas": {"OVERDUE_STARTED": "-50"}}, "score_deltas"),
    ({"score_deltas": {"NOT_A_REASON": 1}}, "score_deltas"),
    ({"limit_multipliers": {"NOT_A_REASON": 0.5}}, "limit_multipliers"),
    ({"limit_multipliers": {"DORMANT": True}}, "limit_multipliers"),
    ({"limit_base_table": [[0, "x"]]}, "limit_base_table"),
    ({"penalty_multiplier": True}, "penalty_multiplier"),
    ({"penalty_multiplier": "one and a half"}, "penalty_multiplier"),
    ({"limit_increase_cap": "twenty percent"}, "limit_increase_cap"),
    ({"limit_multipliers": {"DORMANT": "most"}}, "limit_multipliers"),
    ({"grace_days": -1}, "grace_days"),
])
def test_a_value_of_the_wrong_type_is_an_error_naming_the_key(data, field):
    with pytest.raises(ConfigError) as exc:
        ProductConfig.from_mapping(data)
    assert exc.value.field.split(".")[0] == field
    assert str(exc.value).startswith(field)


def test_the_prefix_is_part_of_the_named_field():
    with pytest.raises(ConfigError) as exc:
        ProductConfig.from_mapping({"chunk_size": "big"}, prefix="config.")
    assert exc.value.field == "config.chunk_size"


def test_a_config_that_is_not_an_object_is_an_error():
    with pytest.raises(ConfigError) as exc:
        ProductConfig.from_mapping([1, 2], prefix="config.")  # type: ignore[arg-type]
    assert exc.value.field == "config"


def test_the_base_table_is_sorted_by_score():
    c = ProductConfig.from_mapping({"limit_base_table": [[700, 5], [0, 0], [600, 1]]})
    assert c.limit_base_table == [(0, 0), (600, 1), (700, 5)]
    assert (c.base_limit(599), c.base_limit(600), c.base_limit(800)) == (0, 1, 5)


def test_configured_bucket_bounds_are_used():
    c = ProductConfig(bucket_bounds=[10, 20, 30])
    assert [c.bucket(d) for d in (0, 10, 11, 21, 31)] == ["C", "M1", "M2", "M3", "M3+"]
