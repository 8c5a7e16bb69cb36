"""Writes from outside the cycle: money in, repayments, draws, activity and risk signals.

Each takes the user's row lock (the lock a chunk takes), so a repayment that
arrives during the night waits for the chunk that owns the user, or the
chunk waits for it; they never interleave.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, insert, select, update

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
from store import repo
from store import schema as s
from store.queries import last_closed_day

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
    repo.lock_users(conn, user_ids)
    closed = last_closed_day(conn) if any(isinstance(e, Repay) for _, e in events) else None
    ev = s.events.c
    done = set(conn.execute(select(ev.key).where(ev.key.in_([k for k, _ in events]))).scalars())
    for key, event in events:
        if key in done:
            continue
        refusal = _apply(conn, key, event, closed)
        conn.execute(insert(s.events).values(day=event.date, user_id=event.user, kind=event.kind,
                                             key=key, payload=event.model_dump(mode="json")))
        if refusal:
            why = refusal if isinstance(refusal, Refusal) else Refusal(
                refusal, _FIELDS.get(refusal, "event"), refusal)
            row = {"day": event.date, "kind": event.kind, "user_id": event.user,
                   "loan_id": getattr(event, "loan", None), "reason": why.code}
            conn.execute(insert(s.refusals).values(**row))
            refusals.append({**row, "field": why.field, "message": why.message})
    return refusals


# C901: the dispatch over event kinds, a refusal reason per case (issue 11 moves the rules out).
def _apply(conn: Connection, key: str, e: Event,  # noqa: C901
           closed: date | None) -> str | Refusal | None:
    users = repo.load_users(conn, [e.user])
    if e.user not in users:
        return "UNKNOWN_USER"
    user = users[e.user]
    if isinstance(e, MoneyEvent):
        if e.kind == "card_deposit":
            _bank(conn, e.user, balance=s.sim_bank_accounts.c.balance + e.amount)
            return None
        repo.insert_journals(conn, [effects.money_in(user, e.kind, key, e.amount, e.date)])
        repo.save_users(conn, [user])
        return None
    if isinstance(e, Repay):
        loans = _user_loans(conn, e.user)
        refused = prepayment.refusal(e.user, loans, e.loan, e.date, closed)
        if refused is not None:
            return refused
        out = prepayment.repay(user, loans, e.loan, e.amount, e.date, f"repay:{key}",
                               closed_through=closed)
        repo.insert_journals(conn, out.journals)
        repo.save_users(conn, [user])
        repo.save_loans(conn, loans)
        return None
    if isinstance(e, Draw):
        return _draw(conn, e, user)
    if isinstance(e, LoanEvent):
        loan = conn.execute(select(s.loans.c.user_id).where(s.loans.c.id == e.loan)).scalar()
        if loan != e.user:
            return "UNKNOWN_LOAN"
        conn.execute(update(s.loans).where(s.loans.c.id == e.loan)
                     .values(on_hold=effects.holds_collection(e.kind)))
        return None
    if isinstance(e, CardTimeout):
        _bank(conn, e.user, timeout_day=e.date, timeout_resolves=e.resolves)
        return None
    if not isinstance(e, SimpleEvent):  # every other kind returned above
        raise AssertionError(f"unhandled event {e.kind}")
    if e.kind == "card_outage":
        _bank(conn, e.user, outage_day=e.date)
        return None
    if e.kind == "card_invalid":
        _bank(conn, e.user, invalid=True)
        return None
    if e.kind == "card_change":
        _bank(conn, e.user, invalid=False)
        effects.card_changed(user)
        repo.save_users(conn, [user])
    _fold_signal(conn, e.user, e.kind, e.date)
    return None


def _user_loans(conn: Connection, user_id: str) -> list[Loan]:
    return repo.load_loans(conn, s.loans.c.user_id == user_id)


def _draw(conn: Connection, e: Draw, user: object) -> str | None:
    from domain.model import User

    if not isinstance(user, User):
        raise AssertionError("draw without a loaded user")
    if conn.execute(select(s.loans.c.id).where(s.loans.c.id == e.loan)).first():
        return "DUPLICATE_LOAN"
    loans = repo.live_loans_of(conn, [e.user])
    reason = lending.refuse_draw(user, loans, e.principal)
    if reason:
        return reason
    loan = lending.new_loan(e.loan, e.user, e.principal, e.annual_rate_bp, e.term_months, e.date)
    repo.insert_loans(conn, [loan])
    repo.insert_journals(conn, [lending.disburse(loan, e.date)])
    _bank(conn, e.user, balance=s.sim_bank_accounts.c.balance + e.principal)
    conn.execute(update(s.users).where(s.users.c.id == e.user).values(last_disbursed=e.date))
    return None


def _bank(conn: Connection, user_id: str, **values: object) -> None:
    a = s.sim_bank_accounts
    if conn.execute(select(a.c.user_id).where(a.c.user_id == user_id)).first() is None:
        conn.execute(insert(a).values(user_id=user_id, balance=0))
    conn.execute(update(a).where(a.c.user_id == user_id).values(**values))


def _fold_signal(conn: Connection, user_id: str, kind: str, on: date) -> None:
    row = repo.load_user_rows(conn, [user_id])[user_id]
    after = effects.signal(repo.activity_of(row), row.next_recalc, kind, on)
    conn.execute(update(s.users).where(s.users.c.id == user_id)
                 .values(activity=after.activity.to_json(), next_recalc=after.next_recalc))
