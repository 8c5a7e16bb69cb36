"""The handoff pass: the day's handoffs to the agencies, in one serialized pass."""

from __future__ import annotations

from datetime import date

from domain import collection
from domain.steps import Step, StepKey
from store import agencies
from store import collection as collection_rows
from store import cycle as cyc
from store import loans as loan_rows
from store import users as user_rows
from store.engine import Engine
from workers import settings

HANDOFF_HELD = "held"


def no_agency(waiting: int) -> str:
    """Why a handoff pass is held, and what to do about it."""
    return (f"no active collection agency: {waiting} handoff(s) wait; add one with "
            "`creditcycle agencies add NAME` (the held pass then goes through)")


def handoff_pass(engine: Engine, on: date, *, key: StepKey | None = None) -> int:
    """Assign the day's handoffs, in loan id order, to the least-loaded active agency.

    With none active the pass is held: its chunk stays open (phase ``held``, the cause
    in ``last_error``) and its cases wait, unassigned, for a pass that finds one. Cases
    of earlier dates still waiting go with this date's.
    """
    step = key or StepKey(Step.HANDOFF)
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, step, 0) is None:
            return 0
        # A held pass retried beside the night's own: each case is assigned once.
        pending = collection_rows.waiting_handoffs(conn, on)
        if not pending:
            cyc.complete_chunk(conn, on, step, 0, 0)
            return 0
        counts = agencies.open_cases_of_active(conn)
        if not counts:
            cyc.set_phase(conn, on, step, 0, HANDOFF_HELD)
            cyc.record_error(conn, on, step, 0, no_agency(len(pending)))
            return 0
        assigned = dict(collection.assign_agencies([p.loan_id for p in pending], counts))
        user_rows.lock_users(conn, {p.user_id for p in pending})
        loans = {x.id: x for x in loan_rows.loans_by_ids(conn, assigned)}
        people = user_rows.load_user_rows(conn, {p.user_id for p in pending})
        handoffs, secret = [], settings.get().contact_secret_or_dev()
        collection_rows.assign_agencies(conn, [(p.id, assigned[p.loan_id]) for p in pending])
        for p in pending:
            agency, loan, person = assigned[p.loan_id], loans[p.loan_id], people[p.user_id]
            loan.collection_stage, loan.agency, loan.dirty = "agency", agency, True
            handoffs.append({
                "day": on, "loan_id": loan.id, "agency": agency,
                "masked_name": collection.mask_name(person.name),
                "masked_phone": collection.mask_phone(person.phone),
                "contact_token": collection.contact_token(person.id, secret),
                "amount_owed": collection.amount_owed(loan, on), "dpd": loan.dpd})
        collection_rows.insert_handoffs(conn, handoffs)
        loan_rows.save_loans(conn, loans.values())
        cyc.complete_chunk(conn, on, step, 0, len(handoffs))
        return len(handoffs)
