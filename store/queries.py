"""Read-only queries for people: one borrower's history, a night's report, metrics.

Nothing here writes. A borrower's history is a handful of indexed reads
(by user id); the report aggregates in SQL so that its cost grows with the
number of days and buckets shown, not with the size of the portfolio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Integer, and_, case, cast, func, literal, select
from sqlalchemy.sql import ColumnElement

from domain.model import Loan
from store import cycle, repo
from store import schema as s

COLLECTION_KINDS = ("deduct_wallet", "deduct_card", "deduct_fund", "repay", "recovery")


def last_closed_day(conn: Connection) -> date | None:
    """The newest business date whose close of business finished (``store.cycle``'s)."""
    return cycle.last_closed(conn)


def is_closed_day(conn: Connection, day: date) -> bool:
    """Whether the close of business of ``day`` finished (``store.cycle``'s)."""
    return cycle.is_closed(conn, day)


def rejection_of(conn: Connection, task_id: str) -> tuple[str, str] | None:
    """(field, reason) of the rejection of task ``task_id``, if it was rejected."""
    r = s.rejections.c
    row = conn.execute(select(r.field, r.reason).where(r.task_id == task_id)).first()
    return None if row is None else (row.field, row.reason)


def event_recorded(conn: Connection, key: str) -> bool:
    """Whether an event submitted with idempotency key ``key`` has been applied."""
    return conn.execute(select(s.events.c.key).where(s.events.c.key == key)).first() is not None


# ---------------------------------------------------------------- one borrower
@dataclass
class UserHistory:
    """Everything recorded about one borrower, oldest first."""

    user: Any
    loans: list[Loan]
    card: Any | None
    journals: list[Any] = field(default_factory=list)
    postings: dict[str, list[Any]] = field(default_factory=dict)
    bank_debits: list[Any] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    loan_events: list[Any] = field(default_factory=list)
    score_events: list[Any] = field(default_factory=list)
    limit_events: list[Any] = field(default_factory=list)
    notifications: list[Any] = field(default_factory=list)
    bureau_records: list[Any] = field(default_factory=list)
    cases: list[Any] = field(default_factory=list)
    handoffs: list[Any] = field(default_factory=list)
    refusals: list[Any] = field(default_factory=list)
    penalty_days: list[Any] = field(default_factory=list)
    """(loan_id, day) of each day penalty interest was charged for (booked accruals)."""


def user_history(conn: Connection, user_id: str) -> UserHistory | None:
    """One borrower's rows from every table that mentions them; None for an unknown id."""
    user = conn.execute(select(s.users).where(s.users.c.id == user_id)).first()
    if user is None:
        return None
    loans = repo.load_loans(conn, s.loans.c.user_id == user_id)
    loan_ids = [x.id for x in loans]
    card = conn.execute(select(s.sim_bank_accounts).where(
        s.sim_bank_accounts.c.user_id == user_id)).first()
    j = s.journals.c
    journals = list(conn.execute(select(s.journals).where(j.user_id == user_id)
                                 .order_by(j.day, j.id)))
    postings: dict[str, list[Any]] = {}
    p = s.postings.c
    keys = [r.key for r in journals if r.kind != "penalty"]
    for start in range(0, len(keys), 500):
        for row in conn.execute(select(s.postings).where(
                p.journal_key.in_(keys[start:start + 500]))):
            postings.setdefault(row.journal_key, []).append(row)
    b = s.bank_debits.c
    e = s.events.c
    le = s.loan_events.c
    se = s.score_events.c
    lim = s.limit_events.c
    n = s.notifications.c
    br = s.bureau_records.c
    cc = s.collection_cases.c
    h = s.handoffs.c
    rf = s.refusals.c
    pa = s.penalty_accruals.c
    return UserHistory(
        user=user, loans=loans, card=card, journals=journals, postings=postings,
        bank_debits=list(conn.execute(select(s.bank_debits).where(b.user_id == user_id)
                                      .order_by(b.day, b.key))),
        events=list(conn.execute(select(s.events).where(e.user_id == user_id)
                                 .order_by(e.day, e.id))),
        loan_events=list(conn.execute(select(s.loan_events).where(le.user_id == user_id)
                                      .order_by(le.day, le.id))),
        score_events=list(conn.execute(select(s.score_events).where(se.user_id == user_id)
                                       .order_by(se.day, se.seq))),
        limit_events=list(conn.execute(select(s.limit_events).where(lim.user_id == user_id)
                                       .order_by(lim.day))),
        notifications=list(conn.execute(select(s.notifications).where(n.user_id == user_id)
                                        .order_by(n.day, n.loan_id, n.kind))),
        bureau_records=list(conn.execute(select(s.bureau_records).where(
            br.user_id == user_id, br.kind != "MONTHLY").order_by(br.day, br.loan_id))),
        cases=list(conn.execute(select(s.collection_cases).where(cc.user_id == user_id)
                                .order_by(cc.opened_on, cc.id))),
        handoffs=list(conn.execute(select(s.handoffs).where(h.loan_id.in_(loan_ids))
                                   .order_by(h.day, h.loan_id))) if loan_ids else [],
        refusals=list(conn.execute(select(s.refusals).where(rf.user_id == user_id)
                                   .order_by(rf.day, rf.id))),
        penalty_days=list(conn.execute(select(pa.loan_id, pa.day).distinct().where(
            pa.loan_id.in_(loan_ids), pa.booked.is_(True)).order_by(pa.loan_id, pa.day)))
        if loan_ids else [],
    )


# ---------------------------------------------------------------- the night's report
def _days_between(later: ColumnElement[Any], earlier: ColumnElement[Any],
                  dialect: str) -> ColumnElement[Any]:
    """``later - earlier`` in whole days, on both backends."""
    if dialect == "sqlite":
        return cast(func.julianday(later) - func.julianday(earlier), Integer)
    return later - earlier


def _bucket_case(dpd: Any, bounds: Sequence[int]) -> ColumnElement[str]:
    m1, m2, m3 = bounds
    return case((dpd <= 0, literal("C")), (dpd <= m1, literal("M1")),
                (dpd <= m2, literal("M2")), (dpd <= m3, literal("M3")), else_=literal("M3+"))


def collected_by_kind(conn: Connection, day: date) -> dict[str, int]:
    """Money collected on ``day``, by journal kind (deductions per source, repay, recovery)."""
    j = s.journals.c
    rows = conn.execute(select(j.kind, func.sum(j.amount)).where(
        j.day == day, j.kind.in_(COLLECTION_KINDS)).group_by(j.kind))
    return {k: int(v) for k, v in rows}


def collected_by_day(conn: Connection, first: date, last: date) -> list[tuple[date, str, int]]:
    """Money collected per day and source (journal kind), ``first``..``last``."""
    j = s.journals.c
    rows = conn.execute(select(j.day, j.kind, func.sum(j.amount)).where(
        j.day >= first, j.day <= last, j.kind.in_(COLLECTION_KINDS))
        .group_by(j.day, j.kind).order_by(j.day, j.kind))
    return [(d, k, int(v)) for d, k, v in rows]


def delinquent_by_day(conn: Connection, first: date, last: date,
                      bounds: Sequence[int]) -> list[tuple[date, str, int]]:
    """Loans per delinquency bucket per day, from the daily penalty accrual rows.

    A loan that is overdue on a day has an accrual row for each overdue
    installment that day; the oldest due date gives its DPD. Days within
    grace of an installment that was then paid in grace leave no row (those
    accruals are dropped), so such loans count as current.
    """
    pa, i = s.penalty_accruals.c, s.installments.c
    oldest = (select(pa.day.label("day"), pa.loan_id.label("loan_id"),
                     func.min(i.due_date).label("due"))
              .select_from(s.penalty_accruals.join(
                  s.installments, and_(i.loan_id == pa.loan_id, i.no == pa.no)))
              .where(pa.day >= first, pa.day <= last)
              .group_by(pa.day, pa.loan_id).subquery())
    dpd = _days_between(oldest.c.day, oldest.c.due, conn.dialect.name) + 1
    bucket = _bucket_case(dpd, bounds).label("bucket")
    rows = conn.execute(select(oldest.c.day, bucket, func.count())
                        .group_by(oldest.c.day, bucket).order_by(oldest.c.day))
    return [(d, b, int(n)) for d, b, n in rows]


def _snapshot_bucket(bounds: Sequence[int], table: Any) -> ColumnElement[str]:
    return case((table.c.status == "written_off", literal("written off")),
                (table.c.status == "paid_off", literal("paid off")),
                else_=_bucket_case(table.c.dpd, bounds))


def month_end_days(conn: Connection, last: date) -> list[date]:
    """The days up to ``last`` with a monthly bureau file."""
    b = s.bureau_records.c
    return list(conn.execute(select(b.day).distinct().where(
        b.kind == "MONTHLY", b.day <= last).order_by(b.day)).scalars())


def month_end_buckets(conn: Connection, days: Sequence[date],
                      bounds: Sequence[int]) -> list[tuple[date, str, int]]:
    """Loans per bucket (and paid off, written off) in the monthly bureau files of ``days``."""
    if not days:
        return []
    b = s.bureau_records
    bucket = _snapshot_bucket(bounds, b).label("bucket")
    rows = conn.execute(select(b.c.day, bucket, func.count()).where(
        b.c.kind == "MONTHLY", b.c.day.in_(list(days))).group_by(b.c.day, bucket)
        .order_by(b.c.day))
    return [(d, k, int(n)) for d, k, n in rows]


def month_transitions(conn: Connection, before: date, after: date,
                      bounds: Sequence[int]) -> list[tuple[str, str, int]]:
    """(bucket at ``before``, bucket at ``after``, loans) between two monthly bureau files."""
    one = s.bureau_records.alias("one")
    two = s.bureau_records.alias("two")
    b1 = _snapshot_bucket(bounds, one).label("b1")
    b2 = _snapshot_bucket(bounds, two).label("b2")
    rows = conn.execute(select(b1, b2, func.count()).select_from(
        one.join(two, and_(two.c.loan_id == one.c.loan_id, two.c.kind == "MONTHLY",
                           two.c.day == after)))
        .where(one.c.kind == "MONTHLY", one.c.day == before).group_by(b1, b2))
    return [(x, y, int(n)) for x, y, n in rows]


def handoffs_by_day(conn: Connection, first: date, last: date) -> list[tuple[date, int, int]]:
    """Agency handoffs per day: (day, count, amount owed)."""
    h = s.handoffs.c
    rows = conn.execute(select(h.day, func.count(), func.coalesce(func.sum(h.amount_owed), 0))
                        .where(h.day >= first, h.day <= last).group_by(h.day).order_by(h.day))
    return [(d, int(n), int(v)) for d, n, v in rows]


def write_offs_by_day(conn: Connection, first: date, last: date) -> list[tuple[date, int, int]]:
    """Write-offs per day: (day, count, amount)."""
    j = s.journals.c
    rows = conn.execute(select(j.day, func.count(), func.sum(j.amount)).where(
        j.day >= first, j.day <= last, j.kind == "write_off").group_by(j.day).order_by(j.day))
    return [(d, int(n), int(v)) for d, n, v in rows]


def score_reasons(conn: Connection, first: date, last: date) -> list[tuple[date, str, int]]:
    """Score events per day and reason: (day, reason, count)."""
    e = s.score_events.c
    rows = conn.execute(select(e.day, e.reason, func.count()).where(
        e.day >= first, e.day <= last).group_by(e.day, e.reason).order_by(e.day))
    return [(d, r, int(n)) for d, r, n in rows]


def limit_reasons(conn: Connection, first: date,
                  last: date) -> list[tuple[date, str, bool, int]]:
    """(day, comma-separated reasons, raised?, events): split the codes in Python."""
    e = s.limit_events.c
    up = (e.new > e.old).label("up")
    rows = conn.execute(select(e.day, e.reasons, up, func.count()).where(
        e.day >= first, e.day <= last).group_by(e.day, e.reasons, up).order_by(e.day))
    return [(d, r, bool(u), int(n)) for d, r, u, n in rows]


def step_runs(conn: Connection, day: date) -> list[Any]:
    """The step rows of ``day``, in the order they started."""
    c = s.cycle_runs.c
    return list(conn.execute(select(s.cycle_runs).where(c.day == day)
                             .order_by(c.started_at, c.step)))


def chunk_stats(conn: Connection, day: date) -> list[Any]:
    """Per step of ``day``: chunks, rows, attempts, quarantined chunks, last error."""
    k = s.chunk_runs.c
    quarantined = func.sum(case((k.phase == "quarantined", 1), else_=0))
    return list(conn.execute(select(
        k.step, func.count().label("chunks"), func.coalesce(func.sum(k.rows), 0).label("rows"),
        func.coalesce(func.sum(k.attempts), 0).label("attempts"),
        quarantined.label("quarantined"), func.max(k.last_error).label("error"))
        .where(k.day == day).group_by(k.step).order_by(k.step)))


def day_counts(conn: Connection, day: date) -> dict[str, int]:
    """Headline counts of one business date."""
    le = s.loan_events.c

    def count(table: Any, *where: Any) -> int:
        return int(conn.execute(select(func.count()).select_from(table).where(*where))
                   .scalar_one())

    return {
        "overdue_started": count(s.loan_events, le.day == day, le.kind == "OVERDUE_STARTED"),
        "overdue_cleared": count(s.loan_events, le.day == day, le.kind == "OVERDUE_CLEARED"),
        "handoffs": count(s.handoffs, s.handoffs.c.day == day),
        "write_offs": count(s.journals, s.journals.c.day == day,
                            s.journals.c.kind == "write_off"),
        "score_events": count(s.score_events, s.score_events.c.day == day),
        "limit_events": count(s.limit_events, s.limit_events.c.day == day),
        "reminders": count(s.notifications, s.notifications.c.day == day),
        "held_users": count(s.held_users, s.held_users.c.day == day,
                            s.held_users.c.released_at.is_(None)),
    }


def loans_by_status(conn: Connection) -> dict[str, int]:
    """How many loans there are in each status."""
    lo = s.loans.c
    return {k: int(v) for k, v in conn.execute(
        select(lo.status, func.count()).group_by(lo.status))}
