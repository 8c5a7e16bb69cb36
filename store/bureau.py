"""Bureau records: the loans as the bureau sees them and the lines of the bureau file
(month-end and event records), read and written set-based; a repeated line is ignored."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date

from sqlalchemy import Connection, delete, select

from domain import bureau
from store import schema as s
from store.bulk import insert_ignore_many
from store.selection import in_range


def loan_states(conn: Connection, disbursed_by: date, lo: str | None = None,
                hi: str | None = None) -> list[bureau.LoanState]:
    """Every loan disbursed by ``disbursed_by`` (of users ``lo``..``hi`` when given), in one
    read."""
    x = s.loans.c
    q = select(x.id, x.user_id, x.status, x.dpd).where(x.disbursed <= disbursed_by)
    if lo is not None and hi is not None:
        q = q.where(in_range(x.user_id, lo, hi))
    return [bureau.LoanState(r.id, r.user_id, r.status, r.dpd) for r in conn.execute(q)]


def loan_states_of(conn: Connection, loan_ids: Collection[str | None]
                   ) -> dict[str, bureau.LoanState]:
    """The loans ``loan_ids`` by id, in one read."""
    x = s.loans.c
    return {r.id: bureau.LoanState(r.id, r.user_id, r.status, r.dpd) for r in conn.execute(
        select(x.id, x.user_id, x.status, x.dpd).where(x.id.in_(list(loan_ids))))}


def insert_records(conn: Connection, records: Iterable[bureau.Record]) -> None:
    """Insert bureau lines in bulk; a line already there is left as it is."""
    insert_ignore_many(conn, s.bureau_records, [
        {"day": x.day, "user_id": x.user_id, "loan_id": x.loan_id, "kind": x.kind,
         "status": x.status, "dpd": x.dpd} for x in records])


def delete_monthly(conn: Connection, day: date, lo: str, hi: str) -> None:
    """Remove the month-end lines of ``day`` of users ``lo``..``hi`` (one DELETE)."""
    b = s.bureau_records.c
    conn.execute(delete(s.bureau_records).where(
        b.day == day, b.kind == bureau.MONTHLY, in_range(b.user_id, lo, hi)))
