"""The month-end bureau file, and its correction after a release."""

from __future__ import annotations

from datetime import date

from domain import bureau
from domain.money import is_month_end
from domain.steps import Step, StepKey
from store import bureau as bureau_rows
from store import cycle as cyc
from store.engine import Engine
from workers.steps.common import chunk_tx


def bureau_month_file(engine: Engine, on: date, *, key: StepKey | None = None) -> int:
    """On the last day of a month, every loan's status goes to the bureau."""
    if not is_month_end(on):
        return 0
    step = key or StepKey(Step.BUREAU_FILE)
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, step, 0) is None:
            return 0
        rows = bureau.monthly_records(on, bureau_rows.loan_states(conn, on))
        bureau_rows.insert_records(conn, rows)
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
        loans = bureau_rows.loan_states(conn, on, lo, hi)
        bureau_rows.delete_monthly(conn, on, lo, hi)
        bureau_rows.insert_records(conn, bureau.monthly_records(on, loans))
        cyc.complete_chunk(conn, on, key, chunk_no, len(loans))
        return len(loans)
