"""Task payloads, validated before anything else happens.

Whatever submits a task (beat, the CLI, Python, Flower's task API), a bad
payload is rejected with the field named, and nothing changes.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from domain.commands import Id
from domain.steps import NIGHT_RUN, Run, Step, StepKey


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


IsoDate = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]


def _valid_date(value: str | None) -> str | None:
    if value is not None:
        date.fromisoformat(value)
    return value


class CycleRun(Payload):
    date: IsoDate | None = None
    _check = field_validator("date")(_valid_date)


class Chunk(Payload):
    """One chunk of one step: the step key as its fields (``domain.steps.StepKey``)."""

    date: IsoDate
    step: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    at: Annotated[str, StringConstraints(pattern=r"^(([01]\d|2[0-3])[0-5]\d)?$")] = ""
    run: Run = NIGHT_RUN
    chunk_no: Annotated[int, Field(ge=0, le=10_000_000)]
    lo: Annotated[str, StringConstraints(max_length=64)]
    hi: Annotated[str, StringConstraints(max_length=64)]
    _check = field_validator("date")(_valid_date)

    @field_validator("step")
    @classmethod
    def _known(cls, value: str) -> str:
        StepKey.of(value)  # ValueError: "unknown step ..."
        return value

    @field_validator("at")
    @classmethod
    def _deduction(cls, value: str, info: ValidationInfo) -> str:
        step = info.data.get("step")
        if value and step is not None and step != Step.DEDUCT:
            raise ValueError(f"a daytime attempt (HHMM) is a deduction's, not {step}'s")
        return value

    @property
    def key(self) -> StepKey:
        """The step key the fields name."""
        return StepKey.of(self.step, self.at, self.run)


class Attempt(Payload):
    at: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    date: IsoDate | None = None
    _check = field_validator("date")(_valid_date)


class Release(Payload):
    date: IsoDate
    _check = field_validator("date")(_valid_date)


class Repay(Payload):
    user: Id
    amount: Annotated[int, Field(gt=0, le=10**13)]
    reference: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    loan: Id | None = None
    date: IsoDate | None = None
    _check = field_validator("date")(_valid_date)


class LimitRecalc(Payload):
    user: Id
    date: IsoDate | None = None
    _check = field_validator("date")(_valid_date)


def _agency_name(value: str) -> str:
    if value != value.strip():
        raise ValueError("must not begin or end with spaces")
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise ValueError("must not contain control or invisible characters")
    return value


class Agency(Payload):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    _check = field_validator("name")(_agency_name)


class Empty(Payload):
    pass


class EventsRecord(Payload):
    """A batch of recorded events; each item is checked whole by ``domain.intake``."""

    events: Annotated[list[Any], Field(min_length=1, max_length=1000)]


class UsersUpsert(Payload):
    """A batch of users; each item is checked whole by ``domain.intake``."""

    users: Annotated[list[Any], Field(min_length=1, max_length=1000)]
