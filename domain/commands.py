"""Commands and events that arrive from outside the nightly cycle, validated.

The same models check a scenario file's events, a CLI call and a task
payload, so a bad field is reported the same way everywhere: by its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

Id = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                      pattern=r"^[A-Za-z0-9_.:\-]+$")]
Fen = Annotated[int, Field(gt=0, le=10**13)]
NUL_MESSAGE = "must not contain a NUL character (\\x00)"


SURROGATE_MESSAGE = "must be Unicode text: a lone surrogate (\\ud800-\\udfff) cannot be stored"


def no_nul(value: str) -> str:
    """Refuse what PostgreSQL cannot store in a text column: NUL, and a lone surrogate (JSON
    can write one as ``\\ud800``; it has no UTF-8)."""
    if "\x00" in value:
        raise PydanticCustomError("nul_character", NUL_MESSAGE)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise PydanticCustomError("lone_surrogate", SURROGATE_MESSAGE) from None
    return value


Text = Annotated[str, AfterValidator(no_nul)]

SIMPLE_KINDS = (
    "payment", "transfer", "red_packet", "life_payment", "wealth_purchase", "phone_change",
    "card_change", "job_loss", "provident_fund_stopped", "multi_borrowing_inquiry",
    "flagged_contact", "external_overdue", "card_outage", "card_invalid",
)
MONEY_KINDS = ("wallet_topup", "card_deposit", "fund_deposit")
LOAN_KINDS = ("collection_hold", "collection_release")
APPLICATION_KINDS = ("apply", "audit", "identity_renewed")
EVENT_KINDS = (*SIMPLE_KINDS, *MONEY_KINDS, *LOAN_KINDS, "repay", "draw", "card_timeout",
               *APPLICATION_KINDS)


class InputError(ValueError):
    """Bad input; ``field`` names the offending field as a path (``events[2].amount``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Base(_Strict):
    date: date
    user: Id


class SimpleEvent(_Base):
    kind: Literal[SIMPLE_KINDS]  # type: ignore[valid-type]


class MoneyEvent(_Base):
    kind: Literal[MONEY_KINDS]  # type: ignore[valid-type]
    amount: Fen


class LoanEvent(_Base):
    kind: Literal[LOAN_KINDS]  # type: ignore[valid-type]
    loan: Id
    reason: Text | None = None


class Repay(_Base):
    kind: Literal["repay"] = "repay"
    amount: Fen
    loan: Id | None = None
    reference: Text | None = None


class Draw(_Base):
    kind: Literal["draw"] = "draw"
    loan: Id
    principal: Fen
    annual_rate_bp: Annotated[int, Field(ge=0, le=100_000)]
    term_months: Annotated[int, Field(ge=1, le=360)]


class CardTimeout(_Base):
    kind: Literal["card_timeout"] = "card_timeout"
    resolves: Literal["debited", "failed"] = "debited"


def _hhmm(value: Any) -> Any:
    """A local time of day written "HH:MM" (JSON has no times)."""
    if isinstance(value, str):
        hh, sep, mm = value.partition(":")
        if not (sep and len(hh) == 2 and len(mm) == 2 and hh.isdigit() and mm.isdigit()
                and int(hh) < 24 and int(mm) < 60):
            raise PydanticCustomError("time_hhmm", "must be a local time HH:MM (00:00-23:59)")
        return time(int(hh), int(mm))
    return value


LocalTime = Annotated[time, BeforeValidator(_hhmm)]
_Date = date  # the field ``date`` hides the type inside the event classes


class Apply(_Base):
    """A loan application (SPEC 12); ``at`` is its local time on ``date``."""

    kind: Literal["apply"] = "apply"
    loan: Id
    principal: Fen
    annual_rate_bp: Annotated[int, Field(ge=0, le=100_000)]
    term_months: Annotated[int, Field(ge=1, le=360)]
    at: LocalTime = time(12, 0)


class Audit(_Base):
    """The video audit of the application for ``loan`` at local time ``at`` on ``date``."""

    kind: Literal["audit"] = "audit"
    loan: Id
    outcome: Literal["approved", "rejected"]
    at: LocalTime


class IdentityRenewed(_Base):
    """A renewed identity document valid through ``expires`` (after the event's date)."""

    kind: Literal["identity_renewed"] = "identity_renewed"
    expires: date

    @field_validator("expires")
    @classmethod
    def _after_its_date(cls, value: _Date, info: ValidationInfo) -> _Date:
        on = info.data.get("date")
        if isinstance(on, _Date) and value <= on:
            raise PydanticCustomError("expires_not_after",
                                      "must be after the event's date (a renewed document)")
        return value


Event = (SimpleEvent | MoneyEvent | LoanEvent | Repay | Draw | CardTimeout | Apply | Audit
         | IdentityRenewed)
_BY_KIND: dict[str, type[BaseModel]] = {
    **dict.fromkeys(SIMPLE_KINDS, SimpleEvent), **dict.fromkeys(MONEY_KINDS, MoneyEvent),
    **dict.fromkeys(LOAN_KINDS, LoanEvent), "repay": Repay, "draw": Draw,
    "card_timeout": CardTimeout, "apply": Apply, "audit": Audit,
    "identity_renewed": IdentityRenewed,
}
_DATE_FIELDS = frozenset({"date", "expires"})


def field_path(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def first_error(exc: ValidationError, prefix: str) -> InputError:
    err = exc.errors()[0]
    msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
    return InputError(field_path(prefix, tuple(err["loc"])) or prefix or "input", msg)


def check_kind(kind: object, prefix: str) -> None:
    """Refuse, naming ``prefix.kind``, what is no event kind."""
    if not isinstance(kind, str) or kind not in _BY_KIND:
        raise InputError(f"{prefix}.kind", f"unknown event kind {kind!r}; one of "
                                           + ", ".join(sorted(_BY_KIND)))


def iso_date(value: str) -> date | str:
    """A date field's text as the date it writes (YYYY-MM-DD), else the text unchanged
    (for the model to refuse by the field's name)."""
    return date.fromisoformat(value) if _iso(value) else value


def parse_event(data: Any, prefix: str = "event") -> Event:
    """Validate one event of any kind; the error names ``prefix.field``."""
    if not isinstance(data, Mapping):
        raise InputError(prefix, "must be an object")
    check_kind(data.get("kind"), prefix)
    kind = data["kind"]
    payload = {k: (iso_date(v) if k in _DATE_FIELDS and isinstance(v, str) else v)
               for k, v in data.items()}
    try:
        return _BY_KIND[kind].model_validate(payload)  # type: ignore[return-value]
    except ValidationError as exc:
        raise first_error(exc, prefix) from None


def _iso(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10
