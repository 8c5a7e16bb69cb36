"""The batches the platform sends (SPEC 13): recorded events and users, validated whole.

A batch is checked item by item before anything is written; the first problem
raises ``InputError`` naming the item and field (``events[3].amount``). The
event rules themselves are those of ``domain.commands`` (the scenario's): a
record is the caller's ``key`` and ``occurred_at`` around one of those events.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from domain.commands import (
    Event,
    Id,
    InputError,
    Text,
    check_kind,
    field_path,
    first_error,
    iso_date,
)

MAX_BATCH = 1000
# Kinds whose moment matters to a rule (the audit window, the 48-hour expiry).
TIMED_KINDS = frozenset({"apply", "audit"})
# Activity and risk signals that only fold into section 5's windows (applied in bulk).
SIGNAL_KINDS = frozenset({
    "payment", "transfer", "red_packet", "life_payment", "wealth_purchase", "phone_change",
    "job_loss", "provident_fund_stopped", "multi_borrowing_inquiry", "flagged_contact",
    "external_overdue"})
# Dated by the business date of ``occurred_at``: the signals (card_change is one too) and
# the application's moments. Every other kind (money, repayments, holds, card events,
# draws) takes effect when recorded: it is dated with the business date of its recording.
OCCURRED_KINDS = SIGNAL_KINDS | {"card_change"} | TIMED_KINDS
_SENSITIVE_NAME = re.compile(
    r"(national|resident|citizen)_?id|id_?(card|no|num|number)|identity_?(no|num|number)"
    r"|card_?(no|num|number)|^pan$|^cvv", re.IGNORECASE)
_RESIDENT_ID = re.compile(r"^\d{17}[\dXx]$|^\d{15}$")
_FREE_TEXT = ("name", "phone", "card_token", "reference", "reason")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def sensitive(value: str) -> str | None:
    """What ``value`` looks like if it is a national ID or a card number, else None."""
    compact = re.sub(r"[\s-]", "", value)
    if _RESIDENT_ID.match(compact):
        return "a national ID number"
    if compact.isdigit() and 13 <= len(compact) <= 19 and _luhn(compact):
        return "a card number"
    return None


@lru_cache(maxsize=1024)
def _sensitive_name(name: str) -> bool:
    """Whether a field's name says it holds a national ID or card number (the names of a
    batch repeat from item to item: each is matched once)."""
    return _SENSITIVE_NAME.search(name) is not None


def refuse_sensitive(item: Mapping[Any, Any], prefix: str) -> None:
    """Refuse, by name, a field that is or holds a national ID or card number: such numbers
    stay with the platform (SPEC 12-13); a card travels as the platform's ``card_token``."""
    for name, value in item.items():
        if isinstance(name, str) and _sensitive_name(name):
            raise InputError(f"{prefix}.{name}", "national ID and card numbers are never "
                             "accepted; the platform keeps them (send card_token for a card)")
        if name in _FREE_TEXT and isinstance(value, str):
            found = sensitive(value)
            if found:
                raise InputError(f"{prefix}.{name}", f"looks like {found}; such numbers are "
                                 "never accepted (send the platform's opaque card_token)")


# The canonical text of an item (one encoder for every item: ``json.dumps`` with options
# builds a new one per call). Digests already stored depend on it: do not change it.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=str)


# The same encoder's C part (``JSONEncoder.encode`` wraps it in Python for every call);
# the same text, checked for circular references.
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)


def canonical(item: Mapping[str, Any]) -> str:
    """An item as sent, as JSON text with sorted keys: what its digest is of."""
    return _canonical_with(_c_encoder())(item)


def _c_encoder() -> Any:
    """A C encoder making the canonical text (None without the C part); one serves a whole
    batch (building it costs about what encoding a small item does)."""
    if _C_ENCODER is None:
        return None
    return _C_ENCODER({}, _CANONICAL.default, json.encoder.encode_basestring, None, ":",
                      ",", True, False, True)


def _canonical_with(encode: Any) -> Callable[[Mapping[str, Any]], str]:
    """``canonical`` with the encoder ``encode`` (from ``_c_encoder``)."""
    def text(item: Mapping[str, Any]) -> str:
        if encode is None or not isinstance(item, dict):
            return _CANONICAL.encode(item)
        return "".join(encode(item, 0))
    return text


def digest(item: Mapping[str, Any]) -> str:
    """The content of an item as sent, for comparing two sendings under one key."""
    return _digest_of(canonical(item))


def _digest_of(text: str) -> str:
    # A lone surrogate (valid JSON, no UTF-8) passes as is: the item's fields are
    # validated after its digest is made, and name what is wrong with it.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Recorded:
    """One validated record: the caller's key, the digest of what was sent (and its
    canonical JSON text, ``sent``), the instant it occurred and the event it carries
    (dated by the rules above)."""

    index: int
    key: str
    digest: str
    occurred_at: datetime
    event: Event
    sent: str


def _instant(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise InputError(field, "must be an ISO 8601 instant with its UTC offset, "
                                "e.g. 2026-03-01T09:30:00+08:00")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(field, f"{value!r} is not an ISO 8601 instant") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError(field, "must carry a UTC offset (e.g. +08:00 or Z)")
    return at


def _batch(data: Any, prefix: str) -> Sequence[Any]:
    if not isinstance(data, list):
        raise InputError(prefix, "must be a list")
    if not 1 <= len(data) <= MAX_BATCH:
        raise InputError(prefix, f"must hold 1 to {MAX_BATCH} items, not {len(data)}")
    return data


# Every kind's model, told apart by ``kind``: a whole batch is validated in one call.
EVENTS: TypeAdapter[list[Event]] = TypeAdapter(
    list[Annotated[Event, Field(discriminator="kind")]])


def parse_records(data: Any, *, now: datetime, zone: str, late_event_days: int,
                  prefix: str = "events") -> list[Recorded]:
    """Validate a whole ``events.record`` batch; the first bad item raises InputError.

    The same key twice in one batch is one event if the content is the same, and the
    batch is refused (KEY_REUSED) if it is not.

    Each item's own checks run in order, item by item; the event models then validate
    the whole batch in one call (one pydantic validation, not one per item). An item's
    own check that fails first validates the items before it (and, for KEY_REUSED, the
    item itself), so the error named is the one an item-by-item check would name first.
    """
    tz = ZoneInfo(zone)
    today, oldest = now.astimezone(tz).date(), now - timedelta(days=late_event_days)
    items = _batch(data, prefix)
    payloads: list[dict[str, Any]] = []
    kept: list[tuple[int, str, str, datetime, str]] = []
    seen: dict[str, str] = {}
    text_of = _canonical_with(_c_encoder())
    times = _Instants(tz)
    for i, raw in enumerate(items):
        p = f"{prefix}[{i}]"
        try:
            payload, key, occurred = _record_fields(raw, p, now, oldest, late_event_days,
                                                    times, today)
        except InputError:
            _validate(payloads, prefix)  # an earlier item's field error comes first
            raise
        payloads.append(payload)
        text = text_of(raw)
        sent = _digest_of(text)
        if seen.get(key, sent) != sent:
            _validate(payloads, prefix)
            raise InputError(f"{p}.key", f"KEY_REUSED: {key!r} is already used in this batch "
                                         "for other content")
        if key not in seen:
            seen[key] = sent
            kept.append((i, key, sent, occurred, text))
    events = _validate(payloads, prefix)
    return [Recorded(i, key, sent, occurred, events[i], text)
            for i, key, sent, occurred, text in kept]


class _Instants:
    """The instants of a batch and their local dates and times, each text read once (a
    platform's batch repeats them: a day's events share a handful of instants)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.read: dict[str, datetime] = {}
        self.local: dict[datetime, tuple[date, str]] = {}

    def instant(self, value: Any, field: str) -> datetime:
        if isinstance(value, str):
            at = self.read.get(value)
            if at is not None:
                return at
        at = _instant(value, field)
        self.read[value] = at
        return at

    def date_time(self, at: datetime) -> tuple[date, str]:
        """``at``'s business date and local ``HH:MM``."""
        found = self.local.get(at)
        if found is None:
            local = at.astimezone(self.tz)
            found = self.local[at] = (local.date(), local.strftime("%H:%M"))
        return found


def _record_fields(raw: Any, p: str, now: datetime, oldest: datetime, late_event_days: int,
                   times: _Instants, today: date) -> tuple[dict[str, Any], str, datetime]:
    """One item's own checks (all but its event's fields): the event's fields to validate
    (dated by the rules above), its key and the instant it occurred."""
    if not isinstance(raw, Mapping):
        raise InputError(p, "must be an object")
    refuse_sensitive(raw, p)
    key = raw.get("key")
    if not isinstance(key, str) or not 1 <= len(key) <= 200 or not key.isascii() \
            or not key.isprintable() or " " in key:
        raise InputError(f"{p}.key", "required: the caller's idempotency key, 1-200 "
                                     "printable ASCII characters without spaces")
    for derived in ("date", "at"):
        if derived in raw:
            raise InputError(f"{p}.{derived}", "not accepted here: the business date "
                                               "and time come from occurred_at")
    occurred = now if raw.get("occurred_at") is None else times.instant(
        raw["occurred_at"], f"{p}.occurred_at")
    if occurred > now:
        raise InputError(f"{p}.occurred_at", f"{occurred.isoformat()} is in the future")
    if occurred < oldest:
        raise InputError(f"{p}.occurred_at", f"{occurred.isoformat()} is more than "
                         f"{late_event_days} days old (late_event_days)")
    payload = {k: v for k, v in raw.items() if k not in ("key", "occurred_at")}
    kind = payload.get("kind")
    check_kind(kind, p)
    if kind in OCCURRED_KINDS:
        payload["date"], at = times.date_time(occurred)
        if kind in TIMED_KINDS:
            payload["at"] = at
    else:
        payload["date"] = today
    expires = payload.get("expires")
    if isinstance(expires, str):
        payload["expires"] = iso_date(expires)
    return payload, key, occurred


def _validate(payloads: list[dict[str, Any]], prefix: str) -> list[Event]:
    """The events of ``payloads``, validated in one call; the first error raises."""
    try:
        return EVENTS.validate_python(payloads)
    except ValidationError as exc:
        err = exc.errors()[0]
        at, _kind, *loc = err["loc"]  # an item's index, its kind (the union's tag), the field
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise InputError(field_path(f"{prefix}[{at}]", tuple(loc)), msg) from None


# ---------------------------------------------------------------- users.upsert
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


NonNeg = Annotated[int, Field(ge=0, le=10**13)]


class ConsentRecord(_Strict):
    wallet: bool | None = None
    card: bool | None = None
    fund: bool | None = None


class UserRecord(_Strict):
    """A user as the platform sends it. Fields left out keep their stored value (on
    creation, the defaults of SPEC 11-12); score, limit and the opening balances are
    used only when the user is created: afterwards only the nightly rules change them."""

    id: Id
    name: Annotated[Text, Field(max_length=200)] | None = None
    phone: Annotated[str, Field(pattern=r"^\+?[0-9]{0,20}$")] | None = None
    birth_date: date | None = None
    identity_verified: bool | None = None
    identity_expires: date | None = None
    card_token: Annotated[str, StringConstraints(min_length=1, max_length=100,
                                                 pattern=r"^[A-Za-z0-9_.:\-]+$")] | None = None
    consent: ConsentRecord | None = None
    score: Annotated[int, Field(ge=0, le=2000)] | None = None
    limit: NonNeg | None = None
    wallet: NonNeg | None = None
    card: NonNeg | None = None
    fund: NonNeg | None = None


CREATION_ONLY = ("score", "limit", "wallet", "card", "fund")
_DATES = ("birth_date", "identity_expires")


def _date(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def parse_users(data: Any, prefix: str = "users") -> list[UserRecord]:
    """Validate a whole ``users.upsert`` batch; one id twice is refused (which one wins
    would depend on the order the platform happened to send them in)."""
    out: list[UserRecord] = []
    ids: set[str] = set()
    for i, raw in enumerate(_batch(data, prefix)):
        p = f"{prefix}[{i}]"
        if not isinstance(raw, Mapping):
            raise InputError(p, "must be an object")
        refuse_sensitive(raw, p)
        try:
            user = UserRecord.model_validate(
                {k: (_date(v) if k in _DATES else v) for k, v in raw.items()})
        except ValidationError as exc:
            raise first_error(exc, p) from None
        if user.id in ids:
            raise InputError(f"{p}.id", f"user {user.id!r} appears twice in the batch")
        ids.add(user.id)
        out.append(user)
    return out
