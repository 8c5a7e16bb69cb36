"""Set-based reads and writes of a chunk of users and their loans.

A chunk is read with a handful of statements (users, loans, installments,
whatever else the step needs) and written back with one bulk statement per
table, only for the rows that changed.
"""

from __future__ import annotations

import calendar
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    String,
    and_,
    any_,
    bindparam,
    case,
    extract,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement

from domain.activity import Activity
from domain.model import LIVE_STATUSES, PAID_OFF, Installment, Journal, Loan, User
from store import schema as s
from store.bulk import bulk_update, insert_many

LOAN_COLUMNS = ("status", "dpd", "bucket", "collection_stage", "agency", "on_hold",
                "episode_level", "accrual_no", "accrual_anchor", "accrual_acc",
                "written_off_on", "next_due")
INSTALLMENT_COLUMNS = ("principal", "interest", "penalty", "paid_principal", "paid_interest",
                       "paid_penalty", "pending_penalty", "penalty_through")


def in_ids(conn: Connection, column: ColumnElement[Any],
           ids: Collection[str]) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL one array parameter (``= ANY``) rather than a
    placeholder per id, which costs compile and parse time for chunks of thousands."""
    values = sorted(ids)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String())))
    return column.in_(values)


def owes() -> ColumnElement[bool]:
    """An installment with principal, interest or penalty still unpaid."""
    i = s.installments.c
    return i.principal + i.interest + i.penalty > (
        i.paid_principal + i.paid_interest + i.paid_penalty)


def in_range(column: ColumnElement[Any], lo: str, hi: str) -> ColumnElement[bool]:
    """``lo <= column <= hi`` (a chunk's user id range)."""
    return and_(column >= lo, column <= hi)


def not_held(user_column: ColumnElement[Any], on: date) -> ColumnElement[bool]:
    """Rows whose user has no unreleased hold from ``on`` or before."""
    held = select(s.held_users.c.user_id).where(s.held_users.c.day <= on,
                                                 s.held_users.c.released_at.is_(None))
    return user_column.not_in(held)


def lock_users(conn: Connection, user_ids: Collection[str]) -> None:
    """Take the row lock every writer of a user takes (a no-op on SQLite, which
    serialises writers with BEGIN IMMEDIATE)."""
    if not user_ids or conn.dialect.name == "sqlite":
        return
    conn.execute(select(s.users.c.id).where(in_ids(conn, s.users.c.id, user_ids))
                 .order_by(s.users.c.id).with_for_update())


# ---------------------------------------------------------------- users
def _user(row: Any) -> User:
    return User(id=row.id, score=row.score, limit=row.credit_limit,
                limit_frozen=row.limit_frozen, closed=row.closed, wallet=row.wallet,
                fund=row.fund, consent_wallet=row.consent_wallet,
                consent_card=row.consent_card, consent_fund=row.consent_fund,
                card_blocked=row.card_blocked)


_USER_FIELDS = ("id", "score", "credit_limit", "limit_frozen", "closed", "wallet", "fund",
                "consent_wallet", "consent_card", "consent_fund", "card_blocked")


def load_users(conn: Connection, user_ids: Collection[str], *,
               lock: bool = False) -> dict[str, User]:
    """Users by id; with ``lock``, read with the lock every writer of a user takes (one
    statement: a row changed meanwhile is waited for and read as its writer left it)."""
    if not user_ids:
        return {}
    u = s.users.c
    rows: Iterable[Row[Any]]
    if lock:
        rows = lock_user_rows(conn, in_ids(conn, u.id, user_ids), _USER_FIELDS).values()
    else:
        rows = conn.execute(select(*(u[c] for c in _USER_FIELDS))
                            .where(in_ids(conn, u.id, user_ids)))
    return {r.id: _user(r) for r in rows}


def load_user_rows(conn: Connection, user_ids: Collection[str],
                   columns: Sequence[str] | None = None) -> dict[str, Any]:
    """Users' rows by id: every column, or ``columns`` (with ``id``) only."""
    if not user_ids:
        return {}
    u = s.users.c
    cols = [u.id, *(u[c] for c in columns if c != "id")] if columns else [s.users]
    rows = conn.execute(select(*cols).where(in_ids(conn, u.id, user_ids)))
    return {r.id: r for r in rows}


def lock_user_rows(conn: Connection, where: ColumnElement[bool],
                   columns: Sequence[str]) -> dict[str, Row[Any]]:
    """The users matching ``where``, locked and read in one statement, in id order.

    On PostgreSQL a row another writer changed meanwhile is waited for and read
    as that writer left it (and ``where`` checked again), as a lock followed by a
    read would give.
    """
    u = s.users.c
    q = select(u.id, *(u[c] for c in columns if c != "id")).where(where).order_by(u.id)
    if conn.dialect.name != "sqlite":
        q = q.with_for_update()
    return {r.id: r for r in conn.execute(q)}


def save_users(conn: Connection, users: Iterable[User]) -> int:
    """Write back the users changed (``dirty``), one bulk UPDATE; returns the rows written."""
    rows = [{"id": u.id, "score": u.score, "credit_limit": u.limit,
             "limit_frozen": u.limit_frozen, "closed": u.closed, "wallet": u.wallet,
             "fund": u.fund, "card_blocked": u.card_blocked}
            for u in users if u.dirty]
    return bulk_update(conn, s.users, ["id"], rows)


def update_users(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk update of arbitrary user columns; every row has the same keys and ``id``."""
    bulk_update(conn, s.users, ["id"], rows)


def activity_of(row: Any) -> Activity:
    """A user row's activity, stored as JSON text or a JSON value."""
    raw = row.activity
    if isinstance(raw, str):
        raw = json.loads(raw)
    return Activity.from_json(raw)


# ---------------------------------------------------------------- loans
def _loan(row: Any) -> Loan:
    return Loan(id=row.id, user_id=row.user_id, principal=row.principal,
                annual_rate_bp=row.annual_rate_bp, term_months=row.term_months,
                disbursed=row.disbursed, status=row.status, dpd=row.dpd, bucket=row.bucket,
                collection_stage=row.collection_stage, agency=row.agency,
                on_hold=row.on_hold, episode_level=row.episode_level,
                accrual_no=row.accrual_no, accrual_anchor=row.accrual_anchor,
                accrual_acc=row.accrual_acc, written_off_on=row.written_off_on,
                next_due=row.next_due)


def _installment(row: Any) -> Installment:
    return Installment(loan_id=row.loan_id, no=row.no, due_date=row.due_date,
                       period_start=row.period_start, principal=row.principal,
                       interest=row.interest, penalty=row.penalty,
                       paid_principal=row.paid_principal, paid_interest=row.paid_interest,
                       paid_penalty=row.paid_penalty, pending_penalty=row.pending_penalty,
                       penalty_through=row.penalty_through)


def load_loans(conn: Connection, where: ColumnElement[bool], *,
               due_by: date | None = None, installments: bool = True) -> list[Loan]:
    """Loans matching ``where`` with their installments, in id order.

    With ``due_by``, only installments due by then with money owed are read:
    what a deduction needs, whatever the loan's length or history.
    """
    loans = [_loan(r) for r in conn.execute(select(s.loans).where(where)
                                            .order_by(s.loans.c.id))]
    if not loans:
        return []
    if not installments:
        for x in loans:
            x.partial = True
        return loans
    by_id = {x.id: x for x in loans}
    i = s.installments.c
    if due_by is None:
        q = select(s.installments).where(in_ids(conn, i.loan_id, by_id))
    else:
        # Owed installments are due on or after the loan's next due date: the
        # index range starts there, so paid history is not read at all.
        q = (select(s.installments).join(s.loans, s.loans.c.id == i.loan_id)
             .where(in_ids(conn, s.loans.c.id, by_id), i.due_date >= s.loans.c.next_due,
                    i.due_date <= due_by, owes()))
        for x in loans:
            x.partial, x.partial_through = True, due_by
    rows = conn.execute(q.order_by(i.loan_id, i.no))
    for r in rows:
        by_id[r.loan_id].installments.append(_installment(r))
    return loans


def load_loans_locked(conn: Connection, where: ColumnElement[bool], *,
                      installments: bool = True) -> list[Loan]:
    """The loans matching ``where``, read after their users' locks.

    ``where`` is evaluated once, before the locks, for the loan and user ids;
    the rows are then read by id after the locks, so a write from outside the
    cycle (a prepayment) that committed meanwhile is seen, and not overwritten
    when the chunk saves. Such a write only pays money: it can make a chosen
    loan need nothing today, never make another loan need something, and the
    rules do nothing with a loan that needs nothing.
    """
    found = conn.execute(select(s.loans.c.id, s.loans.c.user_id).where(where)).all()
    if not found:
        return []
    lock_users(conn, {r.user_id for r in found})
    return load_loans(conn, in_ids(conn, s.loans.c.id, [r.id for r in found]),
                      installments=installments)


def live_loans_of(conn: Connection, user_ids: Collection[str], *,
                  due_by: date | None = None) -> list[Loan]:
    """The live loans of ``user_ids``; see ``load_loans`` for ``due_by``."""
    if not user_ids:
        return []
    return load_loans(conn, and_(in_ids(conn, s.loans.c.user_id, user_ids),
                                 s.loans.c.status.in_(LIVE_STATUSES)), due_by=due_by)


def loans_by_user(loans: Iterable[Loan]) -> dict[str, list[Loan]]:
    """The loans grouped by user id."""
    out: dict[str, list[Loan]] = defaultdict(list)
    for loan in loans:
        out[loan.user_id].append(loan)
    return out


def insert_loans(conn: Connection, loans: Sequence[Loan]) -> None:
    """Insert new loans with their installments."""
    if not loans:
        return
    insert_many(conn, s.loans, [  # COPY for many rows (an import, a seed)
        {"id": x.id, "user_id": x.user_id, "principal": x.principal,
         "annual_rate_bp": x.annual_rate_bp, "term_months": x.term_months,
         "disbursed": x.disbursed, "status": x.status, "dpd": x.dpd, "bucket": x.bucket,
         "collection_stage": x.collection_stage, "agency": x.agency, "on_hold": x.on_hold,
         "episode_level": x.episode_level, "accrual_no": x.accrual_no,
         "accrual_anchor": x.accrual_anchor, "accrual_acc": x.accrual_acc,
         "written_off_on": x.written_off_on, "next_due": x.next_due_date()}
        for x in loans])
    insert_many(conn, s.installments, [
        {"loan_id": i.loan_id, "no": i.no, "due_date": i.due_date,
         "period_start": i.period_start, **{c: getattr(i, c) for c in INSTALLMENT_COLUMNS}}
        for x in loans for i in x.installments])
    for x in loans:
        x.dirty = False
        for i in x.installments:
            i.dirty = False


def save_loans(conn: Connection, loans: Iterable[Loan]) -> int:
    """Write back changed loans and installments, one bulk UPDATE per table.

    A partial loan holds every installment due by its read date that owed
    money, so while one of them still owes, the oldest of those is its next due
    date; only a loan they no longer hold anything owed for needs SQL to look at
    its later installments.
    """
    loan_rows: list[dict[str, Any]] = []
    inst_rows: list[dict[str, Any]] = []
    loan_only: list[dict[str, Any]] = []
    partial: dict[date | None, list[str]] = defaultdict(list)
    for x in loans:
        changed = [i for i in x.installments if i.dirty]
        if x.partial:
            if changed:
                owed = [i.due_date for i in x.installments if i.outstanding > 0]
                if not owed:
                    partial[x.partial_through].append(x.id)
                elif min(owed) != x.next_due:
                    x.next_due, x.dirty = min(owed), True
            if x.dirty:
                loan_only.append({"id": x.id, **{c: getattr(x, c) for c in LOAN_COLUMNS}})
        elif x.dirty or changed:
            loan_rows.append({"id": x.id, "next_due": x.next_due_date(),
                              **{c: getattr(x, c) for c in LOAN_COLUMNS if c != "next_due"}})
        inst_rows.extend({"loan_id": i.loan_id, "no": i.no,
                          **{c: getattr(i, c) for c in INSTALLMENT_COLUMNS}} for i in changed)
    bulk_update(conn, s.loans, ["id"], loan_rows)
    bulk_update(conn, s.loans, ["id"], loan_only)
    bulk_update(conn, s.installments, ["loan_id", "no"], inst_rows)
    for through, ids in partial.items():
        refresh_next_due(conn, ids, after=through)
    return len(loan_rows) + len(inst_rows) + sum(map(len, partial.values())) + len(loan_only)


def refresh_next_due(conn: Connection, loan_ids: Sequence[str], *,
                     after: date | None = None) -> None:
    """Recompute the next-action column of loans from their installments, in one statement;
    with ``after``, of loans known to owe nothing due on or before it (their paid history
    is then not read)."""
    i = s.installments.c
    q = select(func.min(i.due_date)).where(i.loan_id == s.loans.c.id, owes())
    oldest = (q if after is None else q.where(i.due_date > after)).scalar_subquery()
    conn.execute(update(s.loans).where(in_ids(conn, s.loans.c.id, loan_ids))
                 .values(next_due=oldest))


# ---------------------------------------------------------------- ledger
def _owner(account: str) -> str | None:
    parts = account.split(":")
    return parts[1] if len(parts) > 1 else None


def insert_journals(conn: Connection, journals: Sequence[Journal]) -> int:
    """Insert journals and their postings; a repeated key violates the unique constraint."""
    if not journals:
        return 0
    insert_many(conn, s.journals, [
        {"key": j.key, "day": j.day, "kind": j.kind, "user_id": j.user_id,
         "loan_id": j.loan_id, "amount": j.amount} for j in journals])
    insert_many(conn, s.postings, [
        {"journal_key": j.key, "account": a, "owner": _owner(a), "amount": v}
        for j in journals for a, v in j.postings])
    return len(journals)


def fund_redeemed(conn: Connection, user_ids: Collection[str], on: date) -> dict[str, int]:
    """What each user's fund has already paid on ``on`` (the daily cap's use)."""
    if not user_ids:
        return {}
    rows = conn.execute(select(s.journals.c.user_id, func.sum(s.journals.c.amount))
                        .where(s.journals.c.day == on, s.journals.c.kind == "deduct_fund",
                               s.journals.c.user_id.in_(sorted(user_ids)))
                        .group_by(s.journals.c.user_id))
    return {r[0]: int(r[1]) for r in rows}


# ---------------------------------------------------------------- work selection
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


def loans_needing_overdue(conn: Connection, lo: str, hi: str, on: date,
                          grace_days: int) -> list[Loan]:
    """Loans with something to assess, with only the installments that matter on
    ``on`` (due and owed, with pending penalty, or due that day) and a flag for
    money owed on the others: a loan's length and history do not add rows."""
    loans = load_loans_locked(conn, and_(
        in_range(s.loans.c.user_id, lo, hi),
        s.loans.c.status.in_((*LIVE_STATUSES, PAID_OFF)),
        or_(s.loans.c.dpd > 0,
            and_(s.loans.c.status.in_(LIVE_STATUSES),
                 or_(s.loans.c.next_due <= on, falls_due_on(on)))),
        not_held(s.loans.c.user_id, on)), installments=False)
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
    return load_loans_locked(conn, and_(
        in_range(s.loans.c.user_id, lo, hi),
        or_(and_(s.loans.c.status.in_(LIVE_STATUSES),
                 or_(s.loans.c.dpd > 0, falls_due_on(due_soon))),
            s.loans.c.collection_stage.in_(("internal", "agency"))),
        not_held(s.loans.c.user_id, on)), installments=installments)


def now() -> datetime:
    """The current time, aware, in the local zone."""
    return datetime.now().astimezone()
