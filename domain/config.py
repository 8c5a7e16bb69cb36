"""The product configuration: one typed model, the public keys of SPEC section 10.

Unknown keys and values of the wrong type are errors that name the key;
``ProductConfig.from_mapping`` turns pydantic's errors into that form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SCORE_REASONS = (
    "OVERDUE_STARTED",
    "BUCKET_M2",
    "BUCKET_M3",
    "BUCKET_M3_PLUS",
    "WRITTEN_OFF",
    "EXTERNAL_OVERDUE",
    "OVERDUE_CLEARED",
    "ON_TIME_REPAYMENT",
)

LIMIT_MULTIPLIER_REASONS = (
    "CAPACITY_DECLINE",
    "MULTI_BORROWING",
    "FLAGGED_CONTACTS",
    "IDENTITY_CHURN",
    "DORMANT",
)

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ConfigError(ValueError):
    """A configuration value is unknown or of the wrong type; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _to_decimal(value: int | float | str | Decimal) -> Decimal:
    """A number given as int, float or numeric string; anything else is a ValueError."""
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def _default_score_deltas() -> dict[str, int]:
    return {
        "OVERDUE_STARTED": -50,
        "BUCKET_M2": -30,
        "BUCKET_M3": -30,
        "BUCKET_M3_PLUS": -40,
        "WRITTEN_OFF": -50,
        "EXTERNAL_OVERDUE": -30,
        "OVERDUE_CLEARED": 10,
        "ON_TIME_REPAYMENT": 2,
    }


def _default_limit_base_table() -> list[tuple[int, int]]:
    # (lowest score of the band, base limit in fen), ascending
    return [(0, 0), (550, 100_000), (600, 500_000), (650, 2_000_000), (700, 5_000_000),
            (750, 10_000_000)]


def _default_limit_multipliers() -> dict[str, Decimal]:
    return {
        "CAPACITY_DECLINE": Decimal("0.5"),
        "MULTI_BORROWING": Decimal("0.7"),
        "FLAGGED_CONTACTS": Decimal("0.7"),
        "IDENTITY_CHURN": Decimal("0.8"),
        "DORMANT": Decimal("0.8"),
    }


class ProductConfig(BaseModel):
    """Every number of the SPEC, with its default; the rules themselves are fixed."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    time_zone: str = "Asia/Shanghai"
    grace_days: int = Field(default=1, ge=0, le=60)
    penalty_multiplier: Decimal = Field(default=Decimal("1.5"), ge=0)
    penalty_rate_cap_bp: int = Field(default=3600, ge=0)
    fund_daily_redemption_cap: int = Field(default=1_000_000, ge=0)
    deduct_attempt_times: list[str] = Field(default_factory=lambda: ["06:00", "17:00"])
    late_attempts_after_days: int = Field(default=30, ge=0)
    bucket_bounds: list[int] = Field(default_factory=lambda: [30, 60, 90])
    score_min: int = 350
    score_max: int = 950
    score_deltas: dict[str, int] = Field(default_factory=_default_score_deltas)
    external_overdue_interval_days: int = Field(default=30, ge=0)
    limit_base_table: list[tuple[int, int]] = Field(default_factory=_default_limit_base_table)
    limit_multipliers: dict[str, Decimal] = Field(default_factory=_default_limit_multipliers)
    limit_hard_cap: int = Field(default=30_000_000, ge=0)
    limit_increase_cap: Decimal = Field(default=Decimal("0.2"), ge=0)
    limit_increase_floor: int = Field(default=100_000, ge=0)
    limit_increase_interval_days: int = Field(default=30, ge=0)
    limit_recalc_interval_days: int = Field(default=30, ge=1)
    internal_case_dpd: int = Field(default=4, ge=1)
    handoff_dpd: int = Field(default=91, ge=1)
    write_off_dpd: int = Field(default=181, ge=1)
    reminder_window: list[str] = Field(default_factory=lambda: ["08:00", "21:00"])
    due_soon_days: int = Field(default=3, ge=0)
    application_audit_hours: int = Field(default=48, ge=1)
    outbox_max_attempts: int = Field(default=10, ge=1, le=1000)
    eligible_age: list[int] = Field(default_factory=lambda: [18, 60])
    audit_hours: list[str] = Field(default_factory=lambda: ["08:00", "24:00"])
    late_event_days: int = Field(default=7, ge=0, le=366)
    chunk_size: int = Field(default=5000, ge=1, le=1_000_000)

    @field_validator("penalty_multiplier", "limit_increase_cap", mode="before")
    @classmethod
    def _decimal_from_number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        if isinstance(value, int | float | str):
            return _to_decimal(value)
        return value

    @field_validator("limit_multipliers", mode="before")
    @classmethod
    def _multipliers(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError("must be an object of reason code to multiplier")
        out: dict[str, Decimal] = dict(_default_limit_multipliers())
        for key, item in value.items():
            if key not in LIMIT_MULTIPLIER_REASONS:
                raise ValueError(f"unknown reason code {key!r}")
            if isinstance(item, bool) or not isinstance(item, int | float | str | Decimal):
                raise ValueError(f"{key} must be a number")
            out[key] = _to_decimal(item)
        return out

    @field_validator("score_deltas", mode="before")
    @classmethod
    def _deltas(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError("must be an object of reason code to delta")
        out = _default_score_deltas()
        for key, item in value.items():
            if key not in SCORE_REASONS:
                raise ValueError(f"unknown reason code {key!r}")
            if isinstance(item, bool) or not isinstance(item, int):
                raise ValueError(f"{key} must be an integer")
            out[key] = item
        return out

    @field_validator("limit_base_table", mode="before")
    @classmethod
    def _base_table(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("must be a non-empty list of [min_score, base] pairs")
        rows = []
        for row in value:
            if (not isinstance(row, list | tuple) or len(row) != 2
                    or not all(isinstance(x, int) and not isinstance(x, bool) for x in row)):
                raise ValueError("each row must be [min_score, base] integers")
            rows.append((row[0], row[1]))
        return sorted(rows)

    @field_validator("deduct_attempt_times", "reminder_window")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _TIME.match(item):
                raise ValueError(f"{item!r} is not a time HH:MM")
        return value

    @field_validator("reminder_window")
    @classmethod
    def _window(cls, value: list[str]) -> list[str]:
        if len(value) != 2 or value[0] >= value[1]:
            raise ValueError('must be ["HH:MM", "HH:MM"], the start before the end')
        return value

    @field_validator("eligible_age")
    @classmethod
    def _ages(cls, value: list[int]) -> list[int]:
        if len(value) != 2 or not 0 <= value[0] <= value[1] <= 150:
            raise ValueError("must be [min_age, max_age] in whole years, the minimum first")
        return value

    @field_validator("audit_hours")
    @classmethod
    def _audit_hours(cls, value: list[str]) -> list[str]:
        if (len(value) != 2 or not _TIME.match(value[0])
                or not (_TIME.match(value[1]) or value[1] == "24:00") or value[0] >= value[1]):
            raise ValueError('must be ["HH:MM", "HH:MM"] (the end may be "24:00"), '
                             "the start before the end")
        return value

    @field_validator("bucket_bounds")
    @classmethod
    def _bounds(cls, value: list[int]) -> list[int]:
        if len(value) != 3 or sorted(value) != value or value[0] < 1:
            raise ValueError("must be three ascending day counts, e.g. [30, 60, 90]")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, prefix: str = "") -> ProductConfig:
        """Validate a plain mapping (JSON, YAML, environment) into a config."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(prefix.rstrip(".") or "config", "must be an object")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown configuration key"
            # no location: the mapping as a whole (e.g. a key that is not valid Unicode)
            raise ConfigError(prefix + loc if loc else prefix.rstrip(".") or "config",
                              msg) from None

    def penalty_annual_rate_bp(self, annual_rate_bp: int) -> Decimal:
        return min(Decimal(annual_rate_bp) * self.penalty_multiplier,
                   Decimal(self.penalty_rate_cap_bp))

    def bucket(self, dpd: int) -> str:
        m1, m2, m3 = self.bucket_bounds
        if dpd <= 0:
            return "C"
        if dpd <= m1:
            return "M1"
        if dpd <= m2:
            return "M2"
        if dpd <= m3:
            return "M3"
        return "M3+"

    def base_limit(self, score: int) -> int:
        base = 0
        for low, amount in self.limit_base_table:
            if score >= low:
                base = amount
        return base
