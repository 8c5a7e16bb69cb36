"""Writes from outside the cycle: money in, repayments, draws, activity and risk signals.

Each takes the user's row lock (the lock a chunk takes), so a repayment that
arrives during the night waits for the chunk that owns the user, or the
chunk waits for it; they never interleave.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from domain import effects, lending, prepayment
from domain.commands import (
    CardTimeout,
    Draw,
    Event,
    LoanEvent,
    MoneyEvent,
    Repay,
    SimpleEvent,
)
from domain.model import Loan
from domain.prepayment import Refusal
from store import cards
from store import events as event_rows
from store import journals as journal_rows
from store import loans as loan_rows
from store import users as user_rows
from store.cycle_reads import last_closed_day
from store.engine import Connection

_FIELDS = {"UNKNOWN_USER": "user", "UNKNOWN_LOAN": "loan", "DUPLICATE_LOAN": "loan"}


def apply_events(conn: Connection, events: Sequence[tuple[str, Event]]) -> list[dict[str, object]]:
    """Apply events in order; returns the refusals. ``key`` makes each one idempotent.

    Each refusal is stored (``refusals``) and returned as its row plus ``field`` and
    ``message``; a caller that refuses the whole submission rolls the transaction back.
    """
    refusals: list[dict[str, object]] = []
    if not events:
        return refusals
    user_ids = sorted({e.user for _, e in events})
    user_rows.lock_users(conn, user_ids)
    closed = last_closed_day(conn) if any(isinstance(e, Repay) for _, e in events) else None
    done = event_rows.recorded_keys(conn, [k for k, _ in events])
    for key, event in events:
        if key in done:
            continue
        refusal = _apply(conn, key, event, closed)
        event_rows.record(conn, key, event.date, event.user, event.kind,
                          event.model_dump(mode="json"))
        if refusal:
            why = refusal if isinstance(refusal, Refusal) else Refusal(
                refusal, _FIELDS.get(refusal, "event"), refusal)
            row = {"day": event.date, "kind": event.kind, "user_id": event.user,
                   "loan_id": getattr(event, "loan", None), "reason": why.code}
            event_rows.record_refusal(conn, row)
            refusals.append({**row, "field": why.field, "message": why.message})
    return refusals


# C901: the dispatch over event kinds, a refusal reason per case (issue 11 moves the rules out).
def _apply(conn: Connection, key: str, e: Event,  # noqa: C901
           closed: date | None) -> str | Refusal | None:
    users = user_rows.load_users(conn, [e.user])
    if e.user not in users:
        return "UNKNOWN_USER"
    user = users[e.user]
    if isinstance(e, MoneyEvent):
        if e.kind == "card_deposit":
            cards.deposit(conn, e.user, e.amount)
            return None
        journal_rows.insert_journals(conn, [effects.money_in(user, e.kind, key, e.amount, e.date)])
        user_rows.save_users(conn, [user])
        return None
    if isinstance(e, Repay):
        loans = _user_loans(conn, e.user)
        refused = prepayment.refusal(e.user, loans, e.loan, e.date, closed)
        if refused is not None:
            return refused
        out = prepayment.repay(user, loans, e.loan, e.amount, e.date, f"repay:{key}",
                               closed_through=closed)
        journal_rows.insert_journals(conn, out.journals)
        user_rows.save_users(conn, [user])
        loan_rows.save_loans(conn, loans)
        return None
    if isinstance(e, Draw):
        return _draw(conn, e, user)
    if isinstance(e, LoanEvent):
        if loan_rows.loan_owner(conn, e.loan) != e.user:
            return "UNKNOWN_LOAN"
        loan_rows.set_on_hold(conn, e.loan, effects.holds_collection(e.kind))
        return None
    if isinstance(e, CardTimeout):
        cards.set_trouble(conn, e.user, timeout_day=e.date, timeout_resolves=e.resolves)
        return None
    if not isinstance(e, SimpleEvent):  # every other kind returned above
        raise AssertionError(f"unhandled event {e.kind}")
    if e.kind == "card_outage":
        cards.set_trouble(conn, e.user, outage_day=e.date)
        return None
    if e.kind == "card_invalid":
        cards.set_trouble(conn, e.user, invalid=True)
        return None
    if e.kind == "card_change":
        cards.set_trouble(conn, e.user, invalid=False)
        effects.card_changed(user)
        user_rows.save_users(conn, [user])
    _fold_signal(conn, e.user, e.kind, e.date)
    return None


def _user_loans(conn: Connection, user_id: str) -> list[Loan]:
    return loan_rows.loans_of(conn, user_id)


def _draw(conn: Connection, e: Draw, user: object) -> str | None:
    from domain.model import User

    if not isinstance(user, User):
        raise AssertionError("draw without a loaded user")
    if loan_rows.loan_exists(conn, e.loan):
        return "DUPLICATE_LOAN"
    loans = loan_rows.live_loans_of(conn, [e.user])
    reason = lending.refuse_draw(user, loans, e.principal)
    if reason:
        return reason
    loan = lending.new_loan(e.loan, e.user, e.principal, e.annual_rate_bp, e.term_months, e.date)
    loan_rows.insert_loans(conn, [loan])
    journal_rows.insert_journals(conn, [lending.disburse(loan, e.date)])
    cards.deposit(conn, e.user, e.principal)
    user_rows.set_last_disbursed(conn, e.user, e.date)
    return None


def _fold_signal(conn: Connection, user_id: str, kind: str, on: date) -> None:
    row = user_rows.load_user_rows(conn, [user_id])[user_id]
    after = effects.signal(user_rows.activity_of(row), row.next_recalc, kind, on)
    user_rows.set_activity(conn, user_id, after.activity.to_json(), after.next_recalc)
