"""The nightly report's aggregates (``creditcycle report``), and the day's collections
the close sums up. Nothing here writes; everything aggregates in SQL, so a report's cost
grows with the number of days and buckets shown, not with the size of the portfolio.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, Integer, and_, case, cast, func, literal, select
from sqlalchemy.sql import ColumnElement

from store import schema as s

COLLECTION_KINDS = ("deduct_wallet", "deduct_card", "deduct_fund", "repay", "recovery")


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
