"""The month-end bureau file, and its correction after a release."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, delete, select

from domain import bureau
from domain.money import is_month_end
from domain.steps import Step, StepKey
from store import cycle as cyc
from store import schema as s
from store import selection
from store.bulk import insert_ignore_many
from workers.steps.common import chunk_tx


def bureau_month_file(engine: Engine, on: date, *, key: StepKey | None = None) -> int:
    """On the last day of a month, every loan's status goes to the bureau."""
    if not is_month_end(on):
        return 0
    step = (key or StepKey(Step.BUREAU_FILE)).label
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, step, 0) is None:
            return 0
        lo = s.loans.c
        sel = select(lo.id, lo.user_id, lo.status, lo.dpd).where(lo.disbursed <= on)
        rows = bureau.monthly_records(on, (bureau.LoanState(r.id, r.user_id, r.status, r.dpd)
                                           for r in conn.execute(sel)))
        insert_ignore_many(conn, s.bureau_records, [_row(x) for x in rows])
        cyc.complete_chunk(conn, on, step, 0, len(rows))
        return len(rows)


def bureau_month_correction(engine: Engine, on: date, lo: str, hi: str, chunk_no: int, *,
                            key: StepKey) -> int:
    """After held users catch up through a month end, their lines of that month's
    bureau file are replaced by what the file would have said without the hold."""
    if not is_month_end(on):
        return 0
    with chunk_tx(engine, on, key, chunk_no) as conn:
        if conn is None:
            return 0
        lo_, b = s.loans.c, s.bureau_records.c
        loans = conn.execute(select(lo_.id, lo_.user_id, lo_.status, lo_.dpd).where(
            lo_.disbursed <= on, selection.in_range(lo_.user_id, lo, hi))).all()
        conn.execute(delete(s.bureau_records).where(
            b.day == on, b.kind == bureau.MONTHLY, selection.in_range(b.user_id, lo, hi)))
        insert_ignore_many(conn, s.bureau_records, [_row(x) for x in bureau.monthly_records(
            on, (bureau.LoanState(r.id, r.user_id, r.status, r.dpd) for r in loans))])
        cyc.complete_chunk(conn, on, key.label, chunk_no, len(loans))
        return len(loans)


def _row(x: bureau.Record) -> dict[str, object]:
    return {"day": x.day, "user_id": x.user_id, "loan_id": x.loan_id, "kind": x.kind,
            "status": x.status, "dpd": x.dpd}
