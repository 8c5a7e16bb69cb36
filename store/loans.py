"""Loans and their installments: read with a handful of statements per chunk (only the
installments a step needs), written back with one bulk statement per table, only for the
rows that changed; the next-due column kept from the installments.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, select, tuple_, update
from sqlalchemy.sql import ColumnElement

from domain.model import LIVE_STATUSES, Installment, Loan
from domain.overdue import PenaltyAccrual
from store import schema as s
from store.bulk import bulk_update, in_ids, insert_ignore_many, insert_many, insert_rows
from store.users import lock_users

LOAN_COLUMNS = ("status", "dpd", "bucket", "collection_stage", "agency", "on_hold",
                "episode_level", "accrual_no", "accrual_anchor", "accrual_acc",
                "written_off_on", "next_due")
INSTALLMENT_COLUMNS = ("principal", "interest", "penalty", "paid_principal", "paid_interest",
                       "paid_penalty", "pending_penalty", "penalty_through")


def owes() -> ColumnElement[bool]:
    """An installment with principal, interest or penalty still unpaid."""
    i = s.installments.c
    return i.principal + i.interest + i.penalty > (
        i.paid_principal + i.paid_interest + i.paid_penalty)


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


def loans_of(conn: Connection, user_id: str) -> list[Loan]:
    """Every loan of one user (any status) with all its installments, in id order."""
    return load_loans(conn, s.loans.c.user_id == user_id)


def all_loans(conn: Connection) -> list[Loan]:
    """Every loan with all its installments, in id order (a scenario's small book)."""
    return load_loans(conn, s.loans.c.id.is_not(None))


def loan_owner(conn: Connection, loan_id: str) -> str | None:
    """The user id of loan ``loan_id``, or None for an unknown loan."""
    owner: str | None = conn.execute(select(s.loans.c.user_id)
                                     .where(s.loans.c.id == loan_id)).scalar()
    return owner


def loan_exists(conn: Connection, loan_id: str) -> bool:
    """Whether a loan with id ``loan_id`` exists."""
    return conn.execute(select(s.loans.c.id).where(s.loans.c.id == loan_id)).first() is not None


def set_on_hold(conn: Connection, loan_id: str, on_hold: bool) -> None:
    """Put a loan's collection on hold, or lift the hold."""
    conn.execute(update(s.loans).where(s.loans.c.id == loan_id).values(on_hold=on_hold))


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


OPENED_LOAN_COLUMNS = ("id", "user_id", "principal", "annual_rate_bp", "term_months",
                       "disbursed", "status", "next_due")
OPENED_INSTALLMENT_COLUMNS = ("loan_id", "no", "due_date", "period_start", "principal",
                              "interest", "paid_principal", "paid_interest")


def insert_opened(conn: Connection, loans: Sequence[Sequence[Any]],
                  installments: Sequence[Sequence[Any]]) -> None:
    """Insert loans brought in from elsewhere (values in ``OPENED_LOAN_COLUMNS`` order)
    and their installments (``OPENED_INSTALLMENT_COLUMNS``); every other column takes its
    default (no penalty, no collection, no accrual). COPY on PostgreSQL."""
    insert_rows(conn, s.loans, OPENED_LOAN_COLUMNS, loans)
    insert_rows(conn, s.installments, OPENED_INSTALLMENT_COLUMNS, installments)


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


def existing_ids(conn: Connection, loan_ids: Collection[str]) -> set[str]:
    """The ids among ``loan_ids`` that are loans already."""
    if not loan_ids:
        return set()
    ln = s.loans.c
    return set(conn.execute(select(ln.id).where(in_ids(conn, ln.id, loan_ids))).scalars())
# ---------------------------------------------------------------- penalty accruals
Accrual = tuple[str, int, date, int, int, bool]  # loan id, no, day, principal base, amount, booked


def accruals_since(conn: Connection, loan_ids: Sequence[str], day: date) -> list[Accrual]:
    """The penalty accruals of ``loan_ids`` from ``day`` on (none for no loans), in one read."""
    pa = s.penalty_accruals.c
    return [(r.loan_id, r.no, r.day, r.principal_base, r.amount, r.booked)
            for r in conn.execute(select(s.penalty_accruals).where(
                pa.loan_id.in_(list(loan_ids)) if loan_ids else pa.loan_id.is_(None),
                pa.day >= day))]


def revalue_accruals(conn: Connection, accruals: Sequence[Accrual]) -> None:
    """Write the principal base and amount of accruals (named by loan, no and day), one
    bulk UPDATE."""
    if not accruals:
        return
    pa = s.penalty_accruals.c
    conn.execute(update(s.penalty_accruals).where(
        pa.loan_id == bindparam("b_loan"), pa.no == bindparam("b_no"),
        pa.day == bindparam("b_day")).values(principal_base=bindparam("base"),
                                              amount=bindparam("amt")),
        [{"b_loan": a[0], "b_no": a[1], "b_day": a[2], "base": a[3], "amt": a[4]}
         for a in accruals])


def write_accruals(conn: Connection, booked: Sequence[tuple[str, int]],
                   dropped: Sequence[tuple[str, int]],
                   accruals: Sequence[PenaltyAccrual]) -> None:
    """Book the pending accruals ``booked`` and drop ``dropped`` (each by loan and
    installment no, one statement each), then insert ``accruals`` (a repeated one is
    ignored)."""
    p = s.penalty_accruals.c
    if booked:
        conn.execute(update(s.penalty_accruals).where(
            tuple_(p.loan_id, p.no).in_(booked), p.booked.is_(False)).values(booked=True))
    if dropped:
        conn.execute(delete(s.penalty_accruals).where(
            tuple_(p.loan_id, p.no).in_(dropped), p.booked.is_(False)))
    insert_ignore_many(conn, s.penalty_accruals, [
        {"loan_id": a.loan_id, "no": a.installment_no, "day": a.day,
         "principal_base": a.principal_base, "amount": a.amount, "booked": a.booked}
        for a in accruals])


def loans_by_ids(conn: Connection, loan_ids: Collection[str]) -> list[Loan]:
    """The loans ``loan_ids`` with their installments, in id order."""
    return load_loans(conn, s.loans.c.id.in_(list(loan_ids)))
