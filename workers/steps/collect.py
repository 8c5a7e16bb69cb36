"""The collection step: reminders, cases, write-offs."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, Engine, bindparam, select, update

from domain import collection
from domain.config import ProductConfig
from domain.model import Loan
from domain.steps import Step, StepKey
from store import cycle as cyc
from store import repo
from store import schema as s
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
        loans = repo.loans_needing_collection(conn, lo, hi, on, soon, installments=False)
        full_ids = [x.id for x in loans if collection.needs_installments(x, config)]
        full = {x.id: x for x in repo.load_loans(conn, s.loans.c.id.in_(full_ids))} \
            if full_ids else {}
        loans = [full.get(x.id, x) for x in loans]
        due_soon = repo.loans_due_soon(conn, loans, soon)
        out = collection.collect(loans, on, config, due_soon=due_soon)
        start, end = collection.reminder_window(on, config)
        insert_ignore_many(conn, s.notifications, [
            {"day": n.day, "user_id": n.user_id, "loan_id": n.loan_id, "kind": n.kind,
             "send_from": start, "send_until": end} for n in out.notifications])
        repo.insert_journals(conn, out.journals)
        _cases(conn, loans, out, on)
        if out.closed_users:
            repo.update_users(conn, [{"id": u, "closed": True, "credit_limit": 0,
                                      "limit_frozen": True} for u in sorted(out.closed_users)])
        rows = repo.save_loans(conn, loans)
        cyc.complete_chunk(conn, on, step.label, chunk_no, rows)
        return rows


def _cases(conn: Connection, loans: list[Loan], out: collection.CollectionOutcome,
           on: date) -> None:
    by_id = {x.id: x for x in loans}
    c = s.collection_cases
    closing = [*out.recalled, *out.written_off, *out.handoff_due]
    waiting: set[str] = set()  # handoffs of an earlier date whose pass was held
    if closing:
        open_cases = conn.execute(select(c).where(c.c.loan_id.in_(closing),
                                                  c.c.closed_on.is_(None))).all()
        waiting = {case.loan_id for case in open_cases if case.stage == "agency"}
        closed = []
        for case in open_cases:
            loan = by_id[case.loan_id]
            if case.loan_id in out.handoff_due and case.stage == "agency":
                continue
            outcome = ("recalled" if case.loan_id in out.recalled else
                       "written_off" if case.loan_id in out.written_off else "escalated")
            paid = sum(loan.paid().values())
            closed.append({"b_id": case.id, "closed_on": on, "outcome": outcome,
                           "recovered": paid - case.paid_at_open})
        if closed:
            conn.execute(update(c).where(c.c.id == bindparam("b_id")).values(
                closed_on=bindparam("closed_on"), outcome=bindparam("outcome"),
                recovered=bindparam("recovered")), closed)
    new_cases = [{"loan_id": lid, "user_id": by_id[lid].user_id, "stage": "internal",
                  "agency": None, "opened_on": on, "paid_at_open": sum(by_id[lid].paid().values())}
                 for lid in out.opened_internal]
    new_cases += [{"loan_id": lid, "user_id": by_id[lid].user_id, "stage": "agency",
                   "agency": None, "opened_on": on,
                   "paid_at_open": sum(by_id[lid].paid().values())}
                  for lid in out.handoff_due if lid not in waiting]
    if new_cases:
        conn.execute(s.collection_cases.insert(), new_cases)
