"""Writes from outside the cycle: money in, repayments, draws, activity and risk signals.

Each takes the user's row lock (the lock a chunk takes), so a repayment that
arrives during the night waits for the chunk that owns the user, or the
chunk waits for it; they never interleave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from domain import applications, effects, eligibility, lending, prepayment
from domain.commands import (
    Apply,
    Audit,
    CardTimeout,
    Draw,
    Event,
    IdentityRenewed,
    LoanEvent,
    MoneyEvent,
    Repay,
    SimpleEvent,
)
from domain.config import ProductConfig
from domain.model import Loan
from domain.prepayment import Refusal
from store import applications as applications_store
from store import cards
from store import events as event_rows
from store import journals as journal_rows
from store import loans as loan_rows
from store import users as user_rows
from store.cycle_reads import last_closed_day
from store.engine import Connection

_FIELDS = {"UNKNOWN_USER": "user", "UNKNOWN_LOAN": "loan", "DUPLICATE_LOAN": "loan"}


def apply_events(conn: Connection, events: Sequence[tuple[str, Event]],
                 config: ProductConfig | None = None,
                 recorded: Mapping[str, tuple[str, datetime]] | None = None
                 ) -> list[dict[str, object]]:
    """Apply events in order; returns the refusals. ``key`` makes each one idempotent.

    Each refusal is stored (``refusals``) and returned as its row plus ``field`` and
    ``message``; a caller that refuses the whole submission rolls the transaction back.
    ``recorded``: by key, the digest and instant of recording of the events that came
    through ``events.record``, stored on their rows with their outcome.
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
        refusal = _intake(conn, key, event, closed, config or _DEFAULT_CONFIG)
        why = _refusal(refusal)
        sent = recorded.get(key) if recorded else None
        event_rows.record(conn, key, event.date, event.user, event.kind,
                          event.model_dump(mode="json"), None if sent is None else {
                              "digest": sent[0], "at": sent[1],
                              "outcome": "applied" if why is None else why.code})
        if why is not None:
            row = {"day": event.date, "kind": event.kind, "user_id": event.user,
                   "loan_id": getattr(event, "loan", None), "reason": why.code}
            event_rows.record_refusal(conn, row)
            refusals.append({**row, "field": why.field, "message": why.message, "key": key})
    return refusals


def _refusal(refusal: str | Refusal | None) -> Refusal | None:
    if not refusal or isinstance(refusal, Refusal):
        return refusal or None
    return Refusal(refusal, _FIELDS.get(refusal, "event"), refusal)


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


# ---------------------------------------------------------------- the way in (SPEC 12-13)
_DEFAULT_CONFIG = ProductConfig()


def _intake(conn: Connection, key: str, e: Event, closed: date | None,
            config: ProductConfig) -> str | Refusal | None:
    """The kinds of SPEC 12 here, the others through ``_apply``; a draw is first checked
    for the eligibility an application needs (age, identity), in the SPEC's order."""
    if isinstance(e, Apply | Audit | IdentityRenewed):
        if not user_rows.existing(conn, [e.user]):
            return "UNKNOWN_USER"
        if isinstance(e, Apply):
            return _submit_application(conn, e, config)
        if isinstance(e, Audit):
            return _audit_application(conn, e, config)
        user_rows.update_users(conn, [{"id": e.user, "identity_expires": e.expires}])
        return None
    if isinstance(e, Draw) and not applications_store.used_loan_ids(conn, [e.loan]):
        who = user_rows.applicants(conn, [e.user]).get(e.user)
        reason = None if who is None else eligibility.refusal(who, e.principal, e.date,
                                                              config.eligible_age)
        if reason is not None:
            return reason
    return _apply(conn, key, e, closed)


def _submit_application(conn: Connection, e: Apply, config: ProductConfig) -> str | None:
    duplicate = bool(applications_store.used_loan_ids(conn, [e.loan]))
    who = user_rows.applicants(conn, [e.user])[e.user]
    decided = applications.on_apply(
        duplicate, None if duplicate else eligibility.refusal(who, e.principal, e.date,
                                                              config.eligible_age))
    if decided.status is not None:
        applications_store.insert(conn, [{
            "id": e.loan, "user_id": e.user, "status": decided.status, "reason": decided.reason,
            "submitted_at": applications.local_instant(e.date, e.at, config.time_zone),
            "closed_at": None, "principal": e.principal, "annual_rate_bp": e.annual_rate_bp,
            "term_months": e.term_months}])
    return decided.reason


def _audit_application(conn: Connection, e: Audit, config: ProductConfig) -> str | None:
    row = applications_store.load(conn, [e.loan]).get(e.loan)
    if row is not None and row.user_id != e.user:
        row = None  # another user's application is not this user's to audit
    at = applications.local_instant(e.date, e.at, config.time_zone)
    ineligible = None
    if row is not None and e.outcome == "approved":
        who = user_rows.applicants(conn, [e.user])[e.user]
        ineligible = eligibility.refusal(who, row.principal, e.date, config.eligible_age)
    decided = applications.on_audit(
        row.status if row else None, row.submitted_at if row else None, at, e.outcome,
        ineligible, audit_hours=config.audit_hours,
        audit_window_hours=config.application_audit_hours, zone=config.time_zone)
    if row is not None and decided.status is not None:
        if decided.disburse:
            refused = _apply(conn, f"application:{e.loan}", Draw(
                date=e.date, user=e.user, loan=e.loan, principal=row.principal,
                annual_rate_bp=row.annual_rate_bp, term_months=row.term_months), None)
            if refused is not None:  # eligibility held under this same lock: cannot happen
                raise AssertionError(f"approved application {e.loan} refused: {refused}")
        reason = decided.reason if decided.status in (applications.REFUSED,
                                                      applications.CANCELLED) else None
        applications_store.decide(conn, [{"id": e.loan, "status": decided.status,
                                          "reason": reason, "closed_at": at}])
    return decided.reason


def expire_applications(conn: Connection, now: datetime, config: ProductConfig) -> int:
    """Cancel the applications still awaiting audit ``application_audit_hours`` after they
    were submitted (the hourly job), under their users' locks."""
    deadline = now - timedelta(hours=config.application_audit_hours)
    user_rows.lock_users(conn, applications_store.users_awaiting_audit_since(
        conn, applications.AWAITING_AUDIT, deadline))
    return applications_store.expire(conn, deadline, now)


