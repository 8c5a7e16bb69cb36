"""The outboxes' SQL (SPEC 14): rows waiting for a batch, batches, their delivery state.

A relay first forms batches: it locks rows that have no batch yet (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so two relays take different rows; SQLite runs one writer at a
time), and in the same transaction stores each batch (``outbox_batches``) and its key on
its rows (``out_key``; ``notice_key`` of a collection case for its ``recall`` or
``written_off`` record). Then it claims one due batch at a time (the lease moves its
next attempt past any other relay's reach and counts the attempt before the sink is
called), delivers it, and records the answer in a third transaction. The rows of a
batch are read back by its key, in primary-key order: every attempt sends the same body.

The outboxes and their rows:

- ``notifications``: reminders inside their send window (``send_from <= now <
  send_until``, the business clock); one that has no batch when its window ends is
  ``expired`` here, and a batch whose window ended before delivery expires with its rows.
- ``agency:<name>``: the agency's handoffs and the ``recall``/``written_off`` records of
  its cases that were recalled (the loan cleared) or written off, by business date.
- ``bureau``: the bureau records; ``bureau_file``: the monthly file (``MONTHLY`` records),
  one batch per month.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, or_, select, true, update

from domain import outbox as ob
from store import schema as s

#: Outcomes of an agency case that the agency must hear of, and the record kind.
NOTICE_OF_OUTCOME = {"recalled": "recall", "written_off": "written_off"}
MONTHLY = "MONTHLY"
REMINDER_PENDING, REMINDER_SENT, REMINDER_EXPIRED = "pending", "sent", "expired"
ROWS_PER_FORMING = 5000


# ---------------------------------------------------------------------- forming
@dataclass
class _Keyed:
    """Rows of one table to key: their primary keys by ident."""

    pks: dict[str, dict[str, Any]] = field(default_factory=dict)


def _locked(conn: Connection, q: Select[Any]) -> Select[Any]:
    return q.with_for_update(skip_locked=True) if conn.dialect.name == "postgresql" else q


def waiting_items(conn: Connection, relay: ob.RelayName, now: datetime,
                  limit: int = ROWS_PER_FORMING) -> tuple[list[ob.Item], dict[str, Any]]:
    """The rows of ``relay``'s outboxes that have no batch yet and may go now (reminders:
    inside their window at ``now``), locked; with what ``save_batches`` needs to key them."""
    items: list[ob.Item] = []
    where: dict[str, Any] = {}
    if relay == "notifications":
        n = s.notifications.c
        for r in conn.execute(_locked(conn, select(n.loan_id, n.day, n.kind, n.send_until).where(
                n.status == REMINDER_PENDING, n.out_key.is_(None), n.send_from <= now,
                n.send_until > now).order_by(n.loan_id, n.day, n.kind).limit(limit))):
            ident = f"notifications|{r.loan_id}|{r.day}|{r.kind}"
            items.append(ob.Item(ob.NOTIFICATIONS, r.day, ident, r.send_until))
            where[ident] = ("notifications", {"b_loan": r.loan_id, "b_day": r.day,
                                              "b_kind": r.kind})
    elif relay == "agencies":
        h, c = s.handoffs.c, s.collection_cases.c
        for r in conn.execute(_locked(conn, select(h.loan_id, h.day, h.agency).where(
                h.out_key.is_(None), h.agency.is_not(None)).order_by(h.loan_id, h.day)
                .limit(limit))):
            ident = f"handoffs|{r.loan_id}|{r.day}"
            items.append(ob.Item(ob.AGENCY_PREFIX + r.agency, r.day, ident))
            where[ident] = ("handoffs", {"b_loan": r.loan_id, "b_day": r.day})
        for r in conn.execute(_locked(conn, select(c.id, c.agency, c.closed_on).where(
                c.notice_key.is_(None), c.closed_on.is_not(None), c.stage == "agency",
                c.agency.is_not(None), c.outcome.in_(list(NOTICE_OF_OUTCOME)))
                .order_by(c.id).limit(limit))):
            ident = f"collection_cases|{r.id:020d}"
            items.append(ob.Item(ob.AGENCY_PREFIX + r.agency, r.closed_on, ident))
            where[ident] = ("collection_cases", {"b_id": r.id})
    else:
        b = s.bureau_records.c
        base = select(b.loan_id, b.day, b.kind).where(b.out_key.is_(None))
        # The monthly file is one batch per month: all of it, whatever its size.
        monthly = base.where(b.kind == MONTHLY).order_by(b.day, b.loan_id)
        other = base.where(b.kind != MONTHLY).order_by(b.day, b.loan_id, b.kind).limit(limit)
        for q, outbox in ((monthly, ob.BUREAU_FILE), (other, ob.BUREAU)):
            for r in conn.execute(_locked(conn, q)):
                ident = f"bureau_records|{r.loan_id}|{r.day}|{r.kind}"
                items.append(ob.Item(outbox, r.day, ident))
                where[ident] = ("bureau_records", {"b_loan": r.loan_id, "b_day": r.day,
                                                   "b_kind": r.kind})
    return items, where


def _key_statement(table: str) -> Any:
    if table == "notifications":
        n = s.notifications.c
        return update(s.notifications).where(
            n.loan_id == bindparam("b_loan"), n.day == bindparam("b_day"),
            n.kind == bindparam("b_kind")).values(out_key=bindparam("b_key"))
    if table == "handoffs":
        h = s.handoffs.c
        return update(s.handoffs).where(h.loan_id == bindparam("b_loan"),
                                        h.day == bindparam("b_day")).values(
            out_key=bindparam("b_key"))
    if table == "bureau_records":
        b = s.bureau_records.c
        return update(s.bureau_records).where(
            b.loan_id == bindparam("b_loan"), b.day == bindparam("b_day"),
            b.kind == bindparam("b_kind")).values(out_key=bindparam("b_key"))
    c = s.collection_cases.c
    return update(s.collection_cases).where(c.id == bindparam("b_id")).values(
        notice_key=bindparam("b_key"))


def save_batches(conn: Connection, planned: Sequence[ob.PlannedBatch], where: dict[str, Any],
                 at: datetime) -> int:
    """Store the planned batches (due at once) and each row's key; returns the batches."""
    if not planned:
        return 0
    conn.execute(s.outbox_batches.insert(), [
        {"key": p.key, "outbox": p.outbox, "day": p.day, "rows": len(p.idents),
         "status": ob.PENDING, "attempts": 0, "next_attempt_at": at,
         "expires_at": p.expires_at, "copies": 0, "created_at": at} for p in planned])
    by_table: dict[str, list[dict[str, Any]]] = {}
    for p in planned:
        for ident in p.idents:
            table, pk = where[ident]
            by_table.setdefault(table, []).append({**pk, "b_key": p.key})
    for table, params in sorted(by_table.items()):
        conn.execute(_key_statement(table), params)
    return len(planned)


def expire_unsent(conn: Connection, now: datetime) -> int:
    """Reminders with no batch whose window has ended at ``now``: ``expired``, never sent."""
    n = s.notifications.c
    return int(conn.execute(update(s.notifications).where(
        n.status == REMINDER_PENDING, n.out_key.is_(None), n.send_until <= now)
        .values(status=REMINDER_EXPIRED)).rowcount)


# ---------------------------------------------------------------------- delivering
@dataclass(frozen=True, slots=True)
class Claimed:
    """A batch a relay holds for one attempt (``attempts`` counts this one)."""

    key: str
    outbox: str
    day: date | None
    attempts: int
    expires_at: datetime | None


def _of_relay(relay: ob.RelayName) -> Any:
    o = s.outbox_batches.c.outbox
    if relay == "notifications":
        return o == ob.NOTIFICATIONS
    if relay == "agencies":
        return o.like(ob.AGENCY_PREFIX.replace("_", r"\_") + "%", escape="\\")
    return o.in_([ob.BUREAU, ob.BUREAU_FILE])


def claim(conn: Connection, relay: ob.RelayName, at: datetime, lease: timedelta,
          limit: int = 1) -> list[Claimed]:
    """Take up to ``limit`` due batches of ``relay`` for one attempt: the attempt is
    counted and the next one moved ``lease`` ahead, so no other relay takes them meanwhile
    and a relay killed mid-delivery leaves them to the next after the lease."""
    b = s.outbox_batches.c
    keys = list(conn.execute(_locked(conn, select(b.key).where(
        b.status == ob.PENDING, b.next_attempt_at <= at, _of_relay(relay))
        .order_by(b.next_attempt_at, b.key).limit(limit))).scalars())
    if not keys:
        return []
    conn.execute(update(s.outbox_batches).where(b.key.in_(keys)).values(
        attempts=b.attempts + 1, next_attempt_at=at + lease))
    return [Claimed(r.key, r.outbox, r.day, r.attempts, r.expires_at) for r in conn.execute(
        select(b.key, b.outbox, b.day, b.attempts, b.expires_at).where(b.key.in_(keys))
        .order_by(b.next_attempt_at, b.key))]


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def rows_of(conn: Connection, batch: Claimed) -> tuple[dict[str, Any], ...]:
    """The rows of ``batch`` as the sink receives them, in a fixed order."""
    if batch.outbox == ob.NOTIFICATIONS:
        n = s.notifications.c
        return tuple({"kind": r.kind, "loan": r.loan_id, "user": r.user_id, "day": _iso(r.day),
                      "send_from": _iso(r.send_from), "send_until": _iso(r.send_until)}
                     for r in conn.execute(select(s.notifications).where(
                         n.out_key == batch.key).order_by(n.loan_id, n.day, n.kind)))
    if batch.outbox.startswith(ob.AGENCY_PREFIX):
        h, c = s.handoffs.c, s.collection_cases.c
        rows: list[dict[str, Any]] = [
            {"kind": "handoff", "loan": r.loan_id, "day": _iso(r.day), "dpd": r.dpd,
             "owed": r.amount_owed, "masked_name": r.masked_name,
             "masked_phone": r.masked_phone, "contact_token": r.contact_token}
            for r in conn.execute(select(s.handoffs).where(h.out_key == batch.key)
                                  .order_by(h.loan_id, h.day))]
        rows += [{"kind": NOTICE_OF_OUTCOME[r.outcome], "loan": r.loan_id, "case": r.id,
                  "day": _iso(r.closed_on), "opened_on": _iso(r.opened_on)}
                 for r in conn.execute(select(s.collection_cases).where(
                     c.notice_key == batch.key).order_by(c.id))]
        return tuple(rows)
    b = s.bureau_records.c
    return tuple({"kind": r.kind, "loan": r.loan_id, "user": r.user_id, "day": _iso(r.day),
                  "status": r.status, "dpd": r.dpd}
                 for r in conn.execute(select(s.bureau_records).where(b.out_key == batch.key)
                                       .order_by(b.day, b.loan_id, b.kind)))


def mark_delivered(conn: Connection, key: str, at: datetime, *, duplicate: bool) -> int:
    """The sink acknowledged ``key``: the batch is delivered (its reminders ``sent``) and
    never sent again; returns its rows (0 if another relay recorded it first)."""
    b = s.outbox_batches.c
    got = conn.execute(update(s.outbox_batches).where(
        b.key == key, b.status.in_([ob.PENDING, ob.DEAD])).values(
        status=ob.DELIVERED, delivered_at=at, last_error=None,
        copies=b.copies + (1 if duplicate else 0)).returning(b.rows, b.outbox)).first()
    if got is None:
        conn.execute(update(s.outbox_batches).where(b.key == key).values(
            copies=b.copies + (1 if duplicate else 0)))
        return 0
    if got.outbox == ob.NOTIFICATIONS:
        n = s.notifications.c
        conn.execute(update(s.notifications).where(
            n.out_key == key, n.status == REMINDER_PENDING).values(status=REMINDER_SENT))
    return int(got.rows)


def mark_failed(conn: Connection, key: str, status: str, retry_at: datetime,
                error: str) -> int:
    """An attempt failed: the batch waits until ``retry_at`` or is ``dead``; returns its
    rows when it is now dead, else 0."""
    b = s.outbox_batches.c
    got = conn.execute(update(s.outbox_batches).where(
        b.key == key, b.status == ob.PENDING).values(
        status=status, next_attempt_at=retry_at, last_error=error[:500])
        .returning(b.rows)).first()
    return int(got.rows) if got is not None and status == ob.DEAD else 0


def mark_expired(conn: Connection, key: str) -> int:
    """A reminder batch whose window passed undelivered: ``expired`` with its reminders."""
    b, n = s.outbox_batches.c, s.notifications.c
    got = conn.execute(update(s.outbox_batches).where(
        b.key == key, b.status == ob.PENDING).values(status=ob.EXPIRED)
        .returning(b.rows)).first()
    conn.execute(update(s.notifications).where(
        n.out_key == key, n.status == REMINDER_PENDING).values(status=REMINDER_EXPIRED))
    return int(got.rows) if got is not None else 0


# ---------------------------------------------------------------------- operators
@dataclass
class OutboxCounts:
    """Rows of one outbox by state (``waiting``: no batch yet; ``pending`` includes them)."""

    outbox: str
    pending: int = 0
    waiting: int = 0
    delivered: int = 0
    dead: int = 0
    expired: int = 0
    copies: int = 0
    last_error: str | None = None


def status(conn: Connection) -> list[OutboxCounts]:
    """Every outbox that has rows, by name: rows pending, delivered, dead and expired."""
    out: dict[str, OutboxCounts] = {}

    def of(name: str) -> OutboxCounts:
        return out.setdefault(name, OutboxCounts(name))

    b = s.outbox_batches.c
    for r in conn.execute(select(b.outbox, b.status, func.sum(b.rows), func.sum(b.copies))
                          .group_by(b.outbox, b.status)):
        counts = of(r.outbox)
        setattr(counts, str(r.status), getattr(counts, str(r.status)) + int(r[2] or 0))
        counts.copies += int(r[3] or 0)
    for e in conn.execute(select(b.outbox, func.max(b.last_error)).where(
            b.status.in_([ob.PENDING, ob.DEAD]), b.last_error.is_not(None))
            .group_by(b.outbox)):
        of(e.outbox).last_error = e[1]
    n, h, c, br = (s.notifications.c, s.handoffs.c, s.collection_cases.c,
                   s.bureau_records.c)
    waiting: list[tuple[str, int]] = []
    waiting += [(ob.NOTIFICATIONS, int(x)) for x in conn.execute(select(func.count()).where(
        n.status == REMINDER_PENDING, n.out_key.is_(None))).scalars()]
    waiting += [(ob.AGENCY_PREFIX + r[0], int(r[1])) for r in conn.execute(
        select(h.agency, func.count()).where(h.out_key.is_(None), h.agency.is_not(None))
        .group_by(h.agency))]
    waiting += [(ob.AGENCY_PREFIX + r[0], int(r[1])) for r in conn.execute(
        select(c.agency, func.count()).where(
            c.notice_key.is_(None), c.closed_on.is_not(None), c.stage == "agency",
            c.agency.is_not(None), c.outcome.in_(list(NOTICE_OF_OUTCOME)))
        .group_by(c.agency))]
    monthly = br.kind == MONTHLY
    waiting += [(ob.BUREAU_FILE if r[0] else ob.BUREAU, int(r[1])) for r in conn.execute(
        select(monthly.label("monthly"), func.count()).where(br.out_key.is_(None))
        .group_by(monthly))]
    n_expired = conn.execute(select(func.count()).where(
        n.status == REMINDER_EXPIRED, n.out_key.is_(None))).scalar_one()
    if n_expired:
        of(ob.NOTIFICATIONS).expired += int(n_expired)
    for name, count in waiting:
        if count:
            of(name).waiting += count
            of(name).pending += count
    return [out[k] for k in sorted(out)]


def dead_rows(conn: Connection) -> dict[str, int]:
    """Dead rows per relay (for the metrics gauge and reports)."""
    b = s.outbox_batches.c
    found: dict[str, int] = dict.fromkeys(ob.RELAYS, 0)
    for r in conn.execute(select(b.outbox, func.sum(b.rows)).where(b.status == ob.DEAD)
                          .group_by(b.outbox)):
        found[ob.relay_of(r.outbox)] += int(r[1] or 0)
    return found


def _outbox_filter(outboxes: Iterable[str] | None) -> Any:
    if outboxes is None:
        return true()
    o = s.outbox_batches.c.outbox
    parts = [_of_relay(x) if x in ob.RELAYS else o == x
             for x in outboxes]
    return or_(*parts)


def retry_dead(conn: Connection, at: datetime, outboxes: Iterable[str] | None = None
               ) -> tuple[int, int]:
    """Re-queue dead batches (of ``outboxes``: names, or relay names such as
    ``agencies``), due at once, with their keys and rows: (batches, rows)."""
    b = s.outbox_batches.c
    got = conn.execute(update(s.outbox_batches).where(
        b.status == ob.DEAD, _outbox_filter(outboxes)).values(
        status=ob.PENDING, attempts=0, next_attempt_at=at).returning(b.rows)).all()
    return len(got), sum(int(r.rows) for r in got)


def pending_batches(conn: Connection) -> int:
    """Batches still to deliver (due or not)."""
    b = s.outbox_batches.c
    return int(conn.execute(select(func.count()).where(b.status == ob.PENDING)).scalar_one())


def undelivered_agency_records(conn: Connection) -> tuple[int, int]:
    """Handoffs and recall/written_off records not (yet) in a delivered batch."""
    h, c, b = s.handoffs.c, s.collection_cases.c, s.outbox_batches.c
    delivered = select(b.key).where(b.status == ob.DELIVERED)
    handoffs = conn.execute(select(func.count()).where(
        h.agency.is_not(None), or_(h.out_key.is_(None), ~h.out_key.in_(delivered)))
    ).scalar_one()
    notices = conn.execute(select(func.count()).where(
        c.stage == "agency", c.agency.is_not(None), c.closed_on.is_not(None),
        c.outcome.in_(list(NOTICE_OF_OUTCOME)),
        or_(c.notice_key.is_(None), ~c.notice_key.in_(delivered)))).scalar_one()
    return int(handoffs), int(notices)


def unsettled_reminders(conn: Connection, now: datetime) -> int:
    """Reminders whose window ended by ``now`` that are neither sent nor expired."""
    n = s.notifications.c
    return int(conn.execute(select(func.count()).where(
        n.status == REMINDER_PENDING, n.send_until <= now)).scalar_one())


__all__ = ["Claimed", "OutboxCounts", "claim", "dead_rows", "expire_unsent", "mark_delivered",
           "mark_expired", "mark_failed", "pending_batches", "retry_dead", "rows_of",
           "save_batches", "status", "undelivered_agency_records", "unsettled_reminders",
           "waiting_items"]
