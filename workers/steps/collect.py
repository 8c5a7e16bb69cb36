"""The collection step: reminders, cases, write-offs."""

from __future__ import annotations

from datetime import date, timedelta

from domain import cases, collection, flags
from domain.config import ProductConfig
from domain.model import Loan
from domain.steps import Step, StepKey
from store import collection as collection_rows
from store import cycle as cyc
from store import journals as journal_rows
from store import loans as loan_rows
from store import selection
from store import users as user_rows
from store.engine import Connection, Engine
from workers.steps.common import chunk_tx


def collect_chunk(engine: Engine, on: date, lo: str, hi: str, chunk_no: int,
                  config: ProductConfig, *, key: StepKey | None = None) -> int:
    """The collection step for users ``lo``..``hi``: reminders, cases, handoffs, write-offs."""
    step = key or StepKey(Step.COLLECT)
    with chunk_tx(engine, on, step, chunk_no) as conn:
        if conn is None:
            return 0
        soon = on + timedelta(days=config.due_soon_days)
        # Loan rows only; installments just for the few loans whose case, handoff
        # or write-off needs them: a night's cost follows its escalations.
        loans = selection.loans_needing_collection(conn, lo, hi, on, soon, installments=False)
        full_ids = [x.id for x in loans if collection.needs_installments(x, config)]
        full = {x.id: x for x in loan_rows.loans_by_ids(conn, full_ids)} if full_ids else {}
        loans = [full.get(x.id, x) for x in loans]
        due_soon = selection.loans_due_soon(conn, loans, soon)
        out = collection.collect(loans, on, config, due_soon=due_soon)
        start, end = collection.reminder_window(on, config)
        collection_rows.insert_notifications(conn, out.notifications, start, end)
        journal_rows.insert_journals(conn, out.journals)
        _cases(conn, loans, out, on)
        user_rows.update_users(conn, [
            {"id": c.user_id, "closed": c.closed, "credit_limit": c.credit_limit,
             "limit_frozen": c.limit_frozen} for c in flags.closed_users(out.closed_users)])
        rows = loan_rows.save_loans(conn, loans)
        cyc.complete_chunk(conn, on, step, chunk_no, rows)
        return rows


def _cases(conn: Connection, loans: list[Loan], out: collection.CollectionOutcome,
           on: date) -> None:
    open_cases = collection_rows.open_cases_of(conn, cases.closing(out))
    closures, opened = cases.changes(open_cases, {x.id: x for x in loans}, out, on)
    collection_rows.close_cases(conn, closures)
    collection_rows.open_cases(conn, opened)
