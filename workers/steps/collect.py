"""The collection step: reminders, cases, write-offs."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, Engine, bindparam, select, update

from domain import cases, collection, flags
from domain.config import ProductConfig
from domain.model import Loan
from domain.steps import Step, StepKey
from store import cycle as cyc
from store import journals as journal_rows
from store import loans as loan_rows
from store import schema as s
from store import selection
from store import users as user_rows
from store.bulk import insert_ignore_many
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
        full = {x.id: x for x in loan_rows.load_loans(conn, s.loans.c.id.in_(full_ids))} \
            if full_ids else {}
        loans = [full.get(x.id, x) for x in loans]
        due_soon = selection.loans_due_soon(conn, loans, soon)
        out = collection.collect(loans, on, config, due_soon=due_soon)
        start, end = collection.reminder_window(on, config)
        insert_ignore_many(conn, s.notifications, [
            {"day": n.day, "user_id": n.user_id, "loan_id": n.loan_id, "kind": n.kind,
             "send_from": start, "send_until": end} for n in out.notifications])
        journal_rows.insert_journals(conn, out.journals)
        _cases(conn, loans, out, on)
        user_rows.update_users(conn, [
            {"id": c.user_id, "closed": c.closed, "credit_limit": c.credit_limit,
             "limit_frozen": c.limit_frozen} for c in flags.closed_users(out.closed_users)])
        rows = loan_rows.save_loans(conn, loans)
        cyc.complete_chunk(conn, on, step.label, chunk_no, rows)
        return rows


def _cases(conn: Connection, loans: list[Loan], out: collection.CollectionOutcome,
           on: date) -> None:
    c = s.collection_cases
    closing = cases.closing(out)
    open_cases = [cases.OpenCase(r.id, r.loan_id, r.stage, r.paid_at_open)
                  for r in conn.execute(select(c).where(c.c.loan_id.in_(closing),
                                                        c.c.closed_on.is_(None)))
                  ] if closing else []
    closures, opened = cases.changes(open_cases, {x.id: x for x in loans}, out, on)
    if closures:
        conn.execute(update(c).where(c.c.id == bindparam("b_id")).values(
            closed_on=bindparam("closed_on"), outcome=bindparam("outcome"),
            recovered=bindparam("recovered")),
            [{"b_id": x.case_id, "closed_on": x.closed_on, "outcome": x.outcome,
              "recovered": x.recovered} for x in closures])
    if opened:
        conn.execute(c.insert(), [
            {"loan_id": n.loan_id, "user_id": n.user_id, "stage": n.stage, "agency": None,
             "opened_on": n.opened_on, "paid_at_open": n.paid_at_open} for n in opened])
