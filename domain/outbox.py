"""What a relay hands a sink, and what the sink answers (SPEC section 14).

A relay reads rows of one outbox and hands them to that outbox's sink as one ``Batch``
under one idempotency key; the sink answers ``Acknowledged`` (the relay may mark the
rows delivered) or ``DeliveryFailed`` (retryable or not; the relay counts the attempt
toward ``outbox_max_attempts``). Delivery is at least once: a batch sent again carries
the same key and the same rows, and the sink drops the copy by its key.

The outboxes: ``notifications``, ``agency:<name>`` (one per agency), ``bureau`` (the
records) and ``bureau_file`` (the monthly file). A batch's ``body`` is its one canonical
JSON form (docs/outbox-sinks.md), computed once; equal batches have equal bodies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Protocol

NOTIFICATIONS: Final = "notifications"
BUREAU: Final = "bureau"
BUREAU_FILE: Final = "bureau_file"
AGENCY_PREFIX: Final = "agency:"
FIXED_OUTBOXES: Final = (NOTIFICATIONS, BUREAU, BUREAU_FILE)
FORMAT_VERSION: Final = 1

KEY_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}")
MAX_AGENCY_NAME: Final = 100  # agencies.name is String(100)
BODY_FIELDS: Final = frozenset({"version", "outbox", "key", "business_date", "count", "rows"})


def outbox_problem(name: object) -> str | None:
    """Why ``name`` is not an outbox name, or None."""
    if not isinstance(name, str):
        return f"must be a string, got {type(name).__name__}"
    if name in FIXED_OUTBOXES:
        return None
    if name.startswith(AGENCY_PREFIX):
        agency = name[len(AGENCY_PREFIX):]
        if not agency.strip() or len(agency) > MAX_AGENCY_NAME:
            return f"an agency name of 1..{MAX_AGENCY_NAME} characters is needed, got {name!r}"
        if any(ord(c) < 32 or ord(c) == 127 for c in agency):
            return f"the agency name holds a control character: {name!r}"
        return None
    return (f"must be one of {', '.join(FIXED_OUTBOXES)} or agency:<name>, "
            f"got {name[:80]!r}")


def key_problem(key: object) -> str | None:
    """Why ``key`` is not an idempotency key, or None: 1..200 of ``A-Za-z0-9_.:-``,
    starting with a letter or digit (it names a file and travels in a header)."""
    if not isinstance(key, str):
        return f"must be a string, got {type(key).__name__}"
    if not KEY_RE.fullmatch(key):
        return (f"must be 1..200 of A-Za-z0-9_.:- starting with a letter or digit, "
                f"got {key[:80]!r}")
    return None


def _canonical(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows of one outbox under one idempotency key. ``rows`` are plain JSON values
    (str keys; str, int, float, bool, None, lists, objects); ``business_date`` is the
    date the rows belong to (an agency file's date, the bureau file's month end), or
    None. Invalid input raises ``ValueError`` naming the field."""

    outbox: str
    key: str
    rows: tuple[Mapping[str, Any], ...]
    business_date: date | None = None
    body: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problem = outbox_problem(self.outbox)
        if problem:
            raise ValueError(f"outbox: {problem}")
        problem = key_problem(self.key)
        if problem:
            raise ValueError(f"key: {problem}")
        day = self.business_date
        if day is not None and (not isinstance(day, date) or isinstance(day, datetime)):
            raise ValueError(f"business_date: must be a date or None, got {day!r}")
        if not isinstance(self.rows, tuple):
            object.__setattr__(self, "rows", tuple(self.rows))
        for n, row in enumerate(self.rows):
            if not isinstance(row, Mapping) or not all(isinstance(k, str) for k in row):
                raise ValueError(f"rows[{n}]: must be an object with string keys")
            try:
                _canonical(row)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"rows[{n}]: not a plain JSON value ({exc})") from None
        object.__setattr__(self, "body", _canonical({
            "version": FORMAT_VERSION, "outbox": self.outbox, "key": self.key,
            "business_date": None if self.business_date is None
            else self.business_date.isoformat(),
            "count": len(self.rows), "rows": list(self.rows)}))


def decode_batch(body: bytes) -> Batch:
    """The batch a body carries (the inverse of ``Batch.body``); ``ValueError`` naming
    the field when the body is not exactly that shape."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"body: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError("body: must be a JSON object")
    if set(raw) != BODY_FIELDS:
        extra, missing = sorted(set(raw) - BODY_FIELDS), sorted(BODY_FIELDS - set(raw))
        raise ValueError(f"body: unknown fields {extra}, missing {missing}")
    if raw["version"] != FORMAT_VERSION or isinstance(raw["version"], bool):
        raise ValueError(f"version: must be {FORMAT_VERSION}, got {raw['version']!r}")
    rows, count, day = raw["rows"], raw["count"], raw["business_date"]
    if not isinstance(rows, list):
        raise ValueError("rows: must be a list")
    if not isinstance(count, int) or isinstance(count, bool) or count != len(rows):
        raise ValueError(f"count: must equal the number of rows ({len(rows)}), got {count!r}")
    on: date | None = None
    if day is not None:
        try:
            on = date.fromisoformat(day) if isinstance(day, str) else None
        except ValueError:
            on = None
        if on is None or len(day) != 10:
            raise ValueError(f"business_date: must be YYYY-MM-DD or null, got {day!r}")
    return Batch(raw["outbox"], raw["key"], tuple(rows), on)


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The sink holds the batch; ``duplicate``: it had it already (an earlier delivery
    under the same key)."""

    key: str
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryFailed:
    """The sink does not hold the batch, as far as the relay can know. ``retryable``:
    try again with backoff (timeout, connection error, 5xx, 408/429, a disk error);
    otherwise the sink refused it (a 4xx: a wrong secret, URL or batch) and retrying
    will not help until an operator acts. ``retry_after``: the sink's hint, seconds."""

    key: str
    retryable: bool
    cause: str
    retry_after: float | None = None


Delivery = Acknowledged | DeliveryFailed


class Sink(Protocol):
    """Where one outbox's batches go, chosen by URL (adapters/sinks.py)."""

    @property
    def url(self) -> str:
        """The URL as configured (for status and logs; it carries no secret)."""
        ...

    def deliver(self, batch: Batch) -> Delivery: ...

    def close(self) -> None: ...


__all__ = ["AGENCY_PREFIX", "BUREAU", "BUREAU_FILE", "FIXED_OUTBOXES", "NOTIFICATIONS",
           "Acknowledged", "Batch", "Delivery", "DeliveryFailed", "Sink", "decode_batch",
           "key_problem", "outbox_problem"]
