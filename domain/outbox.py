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

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any, Final, Literal, Protocol

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


# ---------------------------------------------------------------------- relay rules
#: Rows per batch (the monthly bureau file is one batch per month, whatever its size).
BATCH_ROWS: Final = 500
#: How long a relay holds a batch it is delivering: another relay leaves it alone that
#: long; a relay killed meanwhile leaves it to the next one after that. Longer than a
#: sink's whole timeout (connect 3 s + read 10 s + write).
LEASE: Final = timedelta(seconds=120)
LEASE_MIN: Final = timedelta(seconds=30)
BACKOFF_FIRST: Final = timedelta(seconds=10)
BACKOFF_CAP: Final = timedelta(hours=1)

#: A batch's state: ``pending`` (to deliver, at ``next_attempt_at``), ``delivered`` (the
#: sink acknowledged it; never sent again), ``dead`` (failed ``outbox_max_attempts``
#: times, or refused by the sink: only an operator re-queues it), ``expired`` (reminders
#: whose send window passed before the sink took them: never sent late).
PENDING: Final = "pending"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"
EXPIRED: Final = "expired"
BATCH_STATUSES: Final = (PENDING, DELIVERED, DEAD, EXPIRED)

#: The relays, each for its outboxes (and its sink): reminders, the agencies, the bureau.
RelayName = Literal["notifications", "agencies", "bureau"]
RELAYS: Final[tuple[RelayName, ...]] = ("notifications", "agencies", "bureau")


def relay_of(outbox: str) -> RelayName:
    """The relay (and so the sink) that delivers ``outbox``."""
    if outbox == NOTIFICATIONS:
        return "notifications"
    if outbox.startswith(AGENCY_PREFIX):
        return "agencies"
    if outbox in (BUREAU, BUREAU_FILE):
        return "bureau"
    raise ValueError(f"outbox: {outbox_problem(outbox) or outbox!r}")


def lease(scale: float = 1.0) -> timedelta:
    """The lease, shortened like the backoff for drills (never under ``LEASE_MIN``, which
    outlasts a sink's default timeouts)."""
    return max(LEASE * scale, LEASE_MIN)


def backoff(attempts: int, scale: float = 1.0) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 10 s, doubling, at most an hour
    (``scale`` shortens it for drills and tests, CREDITCYCLE_RETRY_SCALE)."""
    wait: timedelta = min(BACKOFF_FIRST * (2 ** min(max(attempts - 1, 0), 20)), BACKOFF_CAP)
    return wait * scale


@dataclass(frozen=True, slots=True)
class AfterFailure:
    """What a failed attempt leaves: the batch ``dead`` or ``pending`` again at ``retry_at``."""

    status: str
    retry_at: datetime


def after_failure(failure: DeliveryFailed, attempts: int, max_attempts: int, at: datetime,
                  scale: float = 1.0) -> AfterFailure:
    """A refused batch (not retryable) or one that failed ``max_attempts`` times is dead;
    any other waits its backoff, or the sink's ``Retry-After`` when that is longer."""
    if not failure.retryable or attempts >= max_attempts:
        return AfterFailure(DEAD, at)
    wait = backoff(attempts, scale)
    if failure.retry_after is not None:
        wait = max(wait, timedelta(seconds=failure.retry_after) * scale)
    return AfterFailure(PENDING, at + wait)


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    """Whether a batch's send window has passed at ``now`` (the business clock): a
    reminder batch is then never handed to the sink."""
    return expires_at is not None and expires_at <= now


@dataclass(frozen=True, slots=True)
class Item:
    """One outbox row waiting for its batch: ``ident`` names the row for good (its table
    and primary key); ``expires_at`` the end of a reminder's send window."""

    outbox: str
    day: date | None
    ident: str
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlannedBatch:
    """A batch before its first attempt: its key and its rows, fixed for good."""

    key: str
    outbox: str
    day: date | None
    idents: tuple[str, ...]
    expires_at: datetime | None


def _slug(text: str, size: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:size].strip("-")
    return slug or "x"


def batch_key(outbox: str, day: date | None, first_ident: str) -> str:
    """The idempotency key of the batch whose first row is ``first_ident``: a row is in
    one batch only, so keys never repeat within an outbox. It carries the outbox and the
    date (``agency-<name>-<hash>:<date>:<hash>``, ``notifications:<date>:<hash>``)."""
    digest = hashlib.sha256(first_ident.encode()).hexdigest()[:16]
    when = day.isoformat() if day is not None else "undated"
    if outbox.startswith(AGENCY_PREFIX):
        name = outbox[len(AGENCY_PREFIX):]
        tag = hashlib.sha256(name.encode()).hexdigest()[:8]
        prefix = f"agency-{_slug(name, 40)}-{tag}"
    else:
        prefix = outbox
    return f"{prefix}:{when}:{digest}"


def plan_batches(items: Iterable[Item], rows: int = BATCH_ROWS) -> list[PlannedBatch]:
    """Group rows into batches: one outbox, one date (an agency's file per business date,
    the bureau file per month) and one send window each, in ``ident`` order, at most
    ``rows`` rows (the bureau file: all of its month in one)."""
    def group(i: Item) -> tuple[str, str, str]:
        return (i.outbox, i.day.isoformat() if i.day else "",
                i.expires_at.isoformat() if i.expires_at else "")

    out: list[PlannedBatch] = []
    ordered = sorted(items, key=lambda i: (*group(i), i.ident))
    for _, same in groupby(ordered, key=group):
        members = list(same)
        size = len(members) if members[0].outbox == BUREAU_FILE else max(rows, 1)
        for start in range(0, len(members), size):
            part = members[start:start + size]
            first = part[0]
            out.append(PlannedBatch(batch_key(first.outbox, first.day, first.ident),
                                    first.outbox, first.day,
                                    tuple(i.ident for i in part), first.expires_at))
    return out


__all__ = ["AGENCY_PREFIX", "BATCH_ROWS", "BUREAU", "BUREAU_FILE", "DEAD", "DELIVERED",
           "EXPIRED", "FIXED_OUTBOXES", "LEASE", "NOTIFICATIONS", "PENDING", "RELAYS",
           "Acknowledged", "AfterFailure", "Batch", "Delivery", "DeliveryFailed", "Item",
           "PlannedBatch", "RelayName", "Sink", "after_failure", "backoff", "batch_key",
           "decode_batch", "is_expired", "key_problem", "lease", "outbox_problem", "plan_batches",
           "relay_of"]
