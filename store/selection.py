"""Work selection: which users and loans a step's chunk has work for on a date.

A night touches only rows with work (DESIGN, the cycle): loans due by the date with
money owed or DPD > 0, loans falling due (from the loan row alone), open cases; users
held on the date are skipped. Each selection is a few indexed statements per chunk.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    and_,
    any_,
    bindparam,
    case,
    extract,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement

from domain.model import LIVE_STATUSES, PAID_OFF, Loan
from store import schema as s
from store.bulk import in_ids
from store.loans import _installment, load_loans_locked, owes
from store.users import lock_user_rows

IN_COLLECTION = ("internal", "agency")  # collection stages with a case to work on


def in_collection() -> ColumnElement[bool]:
    """Loans in collection (stage ``internal`` or ``agency``), with the stages written
    into the statement, so that a prepared statement's generic plan still proves the
    partial index ``ix_loans_user_in_collection`` covers it."""
    return s.loans.c.collection_stage.in_([literal(v, literal_execute=True)
                                           for v in IN_COLLECTION])


def in_range(column: ColumnElement[Any], lo: str, hi: str) -> ColumnElement[bool]:
    """``lo <= column <= hi`` (a chunk's user id range)."""
    return and_(column >= lo, column <= hi)


def not_held(user_column: ColumnElement[Any], on: date) -> ColumnElement[bool]:
    """Rows whose user has no unreleased hold from ``on`` or before."""
    held = select(s.held_users.c.user_id).where(s.held_users.c.day <= on,
                                                 s.held_users.c.released_at.is_(None))
    return user_column.not_in(held)


def users_with_due_debts(conn: Connection, lo: str, hi: str, on: date) -> list[str]:
    """Users of ``lo``..``hi`` not held, with a live loan due by ``on``."""
    q = (select(s.loans.c.user_id).distinct()
         .where(in_range(s.loans.c.user_id, lo, hi), s.loans.c.next_due <= on,
                s.loans.c.status.in_(LIVE_STATUSES), not_held(s.loans.c.user_id, on)))
    return list(conn.execute(q).scalars())


def falls_due_on(on: date) -> ColumnElement[bool]:
    """Loans with an installment due on ``on``, from the loan row alone.

    Due date k is the disbursement date plus k months, clamped to the month's
    last day (SPEC 1), and a prepayment keeps the due dates. So installment k
    falls in the month of ``on`` for k = months from disbursement to ``on``,
    and on ``on`` itself when the disbursement's day of the month is the same
    (or later, when ``on`` is the month's last day). This spares reading every
    installment due on ``on`` for each chunk.
    """
    d0 = s.loans.c.disbursed
    months = extract("year", d0) * 12 + extract("month", d0)
    k = on.year * 12 + on.month - months
    dom = extract("day", d0)
    last = calendar.monthrange(on.year, on.month)[1]
    return and_(dom >= on.day if on.day == last else dom == on.day,
                k >= 1, k <= s.loans.c.term_months)


def disbursed_for_due_on(conn: Connection, on: date) -> ColumnElement[bool]:
    """Loans whose disbursement date can give an installment due on ``on``: the day of
    the month matches (any from ``on``'s on its month's last day) in an earlier month,
    from the oldest loan's disbursement on. A superset of ``falls_due_on(on)`` (which
    still decides) that the index on (disbursed, user_id) reads directly, one index
    range per date for a chunk's users, instead of every loan of the chunk."""
    earliest = conn.execute(select(func.min(s.loans.c.disbursed))).scalar()
    dates: list[date] = []
    if earliest is not None:
        last = calendar.monthrange(on.year, on.month)[1]
        days = range(on.day, 32) if on.day == last else (on.day,)
        y, m = earliest.year, earliest.month
        while (y, m) < (on.year, on.month):
            month_end = calendar.monthrange(y, m)[1]
            dates.extend(d for day in days
                         if day <= month_end and (d := date(y, m, day)) >= earliest)
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    column = s.loans.c.disbursed
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, dates, type_=ARRAY(Date())))
    return column.in_(dates)


def loans_needing_overdue(conn: Connection, lo: str, hi: str, on: date,
                          grace_days: int) -> list[Loan]:
    """Loans with something to assess, with only the installments that matter on
    ``on`` (due and owed, with pending penalty, or due that day) and a flag for
    money owed on the others: a loan's length and history do not add rows."""
    ln = s.loans.c
    live = ln.status.in_(LIVE_STATUSES)
    # Each arm of the OR is read by an index within the chunk's user range (dpd,
    # next_due, disbursement date): only the candidates' rows are visited.
    loans = load_loans_locked(conn, and_(
        in_range(ln.user_id, lo, hi),
        ln.status.in_((*LIVE_STATUSES, PAID_OFF)),
        or_(ln.dpd > 0,
            and_(live, ln.next_due <= on),
            and_(live, disbursed_for_due_on(conn, on), falls_due_on(on))),
        not_held(ln.user_id, on)), installments=False)
    if not loans:
        return loans
    by_id = {x.id: x for x in loans}
    i = s.installments.c
    owed = owes()
    # What matters lies from the oldest owed installment (the loan's next due date)
    # or the oldest that can still carry penalty pending within grace, whichever is
    # earlier, up to ``on``: the index range skips the paid history.
    pending_from = on - timedelta(days=grace_days + 1)
    nd = s.loans.c.next_due
    start = case((nd < pending_from, nd), else_=pending_from)
    rows = conn.execute(select(s.installments).join(s.loans, s.loans.c.id == i.loan_id).where(
        in_ids(conn, s.loans.c.id, by_id), i.due_date >= start, i.due_date <= on,
        or_(owed, i.pending_penalty > 0, i.due_date == on)).order_by(i.loan_id, i.no))
    for r in rows:
        by_id[r.loan_id].installments.append(_installment(r))
    for x in loans:
        x.partial_through = on
    beyond = select(i.loan_id).where(i.loan_id == s.loans.c.id, i.due_date > on, owed).exists()
    for loan_id in conn.execute(select(s.loans.c.id).where(
            in_ids(conn, s.loans.c.id, by_id), beyond)).scalars():
        by_id[loan_id].owed_beyond = True
    return loans


def loans_due_soon(conn: Connection, loans: Sequence[Loan], due_soon: date) -> set[str]:
    """Of ``loans``, those with an installment owed on ``due_soon``."""
    ids = [x.id for x in loans]
    if not ids:
        return set()
    i = s.installments.c
    return set(conn.execute(select(i.loan_id).where(
        in_ids(conn, i.loan_id, ids), i.due_date == due_soon, owes())).scalars())


def loans_needing_collection(conn: Connection, lo: str, hi: str, on: date,
                             due_soon: date, *, installments: bool = True) -> list[Loan]:
    """The loans of ``lo``..``hi`` collection must look at on ``on``, locked."""
    ln = s.loans.c
    live = ln.status.in_(LIVE_STATUSES)
    # Each arm of the OR is read by an index within the chunk's user range (dpd,
    # disbursement date, the partial index of loans in collection).
    return load_loans_locked(conn, and_(
        in_range(ln.user_id, lo, hi),
        or_(and_(live, ln.dpd > 0),
            and_(live, disbursed_for_due_on(conn, due_soon), falls_due_on(due_soon)),
            in_collection()),
        not_held(ln.user_id, on)), installments=installments)


def lock_users_due_recalc(conn: Connection, lo: str, hi: str, on: date,
                          columns: Sequence[str], *, activity_text: bool = False
                          ) -> dict[str, Any]:
    """The users ``lo``..``hi`` (not held) whose limit recalculation is due by ``on``,
    locked and read (``columns`` with ``id``) in one statement, in id order
    (``activity_text``: see ``lock_user_rows``)."""
    u = s.users.c
    return lock_user_rows(conn, and_(in_range(u.id, lo, hi), u.next_recalc <= on,
                                     not_held(u.id, on)), columns,
                          activity_text=activity_text)
