"""Writes from outside the cycle: money in, repayments, draws, activity and risk signals.

Each takes the user's row lock (the lock a chunk takes), so a repayment that
arrives during the night waits for the chunk that owns the user, or the
chunk waits for it; they never interleave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from domain import activity as act
from domain import applications, effects, eligibility, intake, ledger, lending, prepayment
from domain import book as book_rules
from domain.commands import (
    Apply,
    Audit,
    CardTimeout,
    Draw,
    Event,
    IdentityRenewed,
    InputError,
    LoanEvent,
    MoneyEvent,
    Repay,
    SimpleEvent,
)
from domain.config import ProductConfig
from domain.model import Journal, Loan
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
                 config: ProductConfig | None = None) -> list[dict[str, object]]:
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
        refusal = _intake(conn, key, event, closed, config or _DEFAULT_CONFIG)
        event_rows.record(conn, key, event.date, event.user, event.kind,
                          event.model_dump(mode="json"))
        if refusal:
            why = refusal if isinstance(refusal, Refusal) else Refusal(
                refusal, _FIELDS.get(refusal, "event"), refusal)
            row = {"day": event.date, "kind": event.kind, "user_id": event.user,
                   "loan_id": getattr(event, "loan", None), "reason": why.code}
            event_rows.record_refusal(conn, row)
            refusals.append({**row, "field": why.field, "message": why.message, "key": key})
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


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a batch did: applied, already recorded (the same key and content before) and
    the refusals by the rules (an ineligible draw, an audit outside the hours)."""

    applied: int
    already: int
    refused: list[dict[str, object]]

    def summary(self) -> dict[str, object]:
        """The counts and refusals as JSON-ready data (what the task returns)."""
        return {"applied": self.applied, "already_recorded": self.already,
                "refused": [{k: (v.isoformat() if isinstance(v, date) else v)
                             for k, v in r.items() if k != "field"} for r in self.refused]}


def record_events(conn: Connection, batch: Sequence[intake.Recorded], now: datetime,
                  config: ProductConfig) -> Recorded:
    """Apply a validated ``events.record`` batch in the caller's transaction, under the
    user row locks the chunks take. Raises InputError (nothing written: the caller rolls
    back) for an unknown user or a key already recorded with other content (KEY_REUSED).

    Signals fold and money arrives in bulk (a few statements for the whole batch; no
    later event of a batch depends on a balance, since deduction runs only at night);
    every other kind goes through ``apply_events`` in the order sent.
    """
    user_ids = sorted({r.event.user for r in batch})
    user_rows.lock_users(conn, user_ids)
    known_users = user_rows.existing(conn, user_ids)
    for r in batch:
        if r.event.user not in known_users:
            raise InputError(f"events[{r.index}].user", f"unknown user {r.event.user!r}")
    known = event_rows.known_keys(conn, [r.key for r in batch])
    for r in batch:
        if known.get(r.key, r.digest) != r.digest:
            raise InputError(f"events[{r.index}].key", f"KEY_REUSED: {r.key!r} was recorded "
                                                      "before with other content")
    fresh = [r for r in batch if r.key not in known]
    _fold_signals(conn, [r for r in fresh if r.event.kind in intake.SIGNAL_KINDS])
    _money_in(conn, [r for r in fresh if isinstance(r.event, MoneyEvent)])
    ordered = [r for r in fresh if r.event.kind not in intake.SIGNAL_KINDS
               and not isinstance(r.event, MoneyEvent)]
    refused = apply_events(conn, [(f"rec:{r.key}", r.event) for r in ordered], config)
    why = {str(x["key"])[4:]: str(x["reason"]) for x in refused}
    event_rows.insert_keys(conn, [
        {"key": r.key, "digest": r.digest, "at": now, "user_id": r.event.user,
         "kind": r.event.kind, "outcome": why.get(r.key, "applied")} for r in fresh])
    return Recorded(len(fresh) - len(refused), len(batch) - len(fresh),
                    [{**{k: v for k, v in x.items() if k != "message"},
                      "key": str(x["key"]).removeprefix("rec:")} for x in refused])


def _insert_events(conn: Connection, records: Sequence[intake.Recorded]) -> None:
    event_rows.insert_events(conn, [
        {"day": x.event.date, "user_id": x.event.user, "kind": x.event.kind,
         "key": f"rec:{x.key}", "payload": x.event.model_dump(mode="json")} for x in records])


def _money_in(conn: Connection, records: Sequence[intake.Recorded]) -> None:
    """Top-ups and deposits of a batch: the journals of ``_apply`` (same keys), in bulk."""
    if not records:
        return
    users = user_rows.load_users(conn, {x.event.user for x in records})
    journals: list[Journal] = []
    cards: dict[str, int] = {}
    for x in records:
        e = x.event
        if not isinstance(e, MoneyEvent):
            raise AssertionError(f"{e.kind} is not money")
        if e.kind == "card_deposit":
            cards[e.user] = cards.get(e.user, 0) + e.amount
            continue
        user = users[e.user]
        if e.kind == "wallet_topup":
            user.wallet += e.amount
        else:
            user.fund += e.amount
        user.dirty = True
        account = ledger.wallet(e.user) if e.kind == "wallet_topup" else ledger.fund(e.user)
        journals.append(lending.external_in(f"{e.kind}:rec:{x.key}", e.user, account,
                                            e.amount, e.date, e.kind))
    journal_rows.insert_journals(conn, journals)
    user_rows.save_users(conn, users.values())
    event_rows.add_to_cards(conn, cards)
    _insert_events(conn, records)


def _fold_signals(conn: Connection, signals: Sequence[intake.Recorded]) -> None:
    if not signals:
        return
    rows = {r.id: r for r in event_rows.activity_rows(conn, {x.event.user for x in signals})}
    state = {uid: (user_rows.activity_of(r), r.next_recalc) for uid, r in rows.items()}
    for x in sorted(signals, key=lambda x: x.event.date):
        activity, next_recalc = state[x.event.user]
        on = x.event.date
        state[x.event.user] = (act.fold(activity, x.event.kind, on),
                               on if next_recalc is None or next_recalc > on else next_recalc)
    user_rows.update_users(conn, [{"id": uid, "activity": a.to_json(), "next_recalc": n}
                             for uid, (a, n) in sorted(state.items())])
    _insert_events(conn, signals)


def upsert_users(conn: Connection, users: Sequence[intake.UserRecord], today: date,
                 config: ProductConfig) -> dict[str, int]:
    """Create or update a validated batch of users under their row locks. Score, limit and
    opening balances apply on creation only (the opening balances as opening journals)."""
    ids = sorted(u.id for u in users)
    user_rows.lock_users(conn, ids)
    present = user_rows.existing(conn, ids)
    new = [u for u in users if u.id not in present]
    before = today - timedelta(days=1)
    user_rows.insert_users(conn, [_created(u, before, config) for u in new])
    user_rows.open_bank_accounts(conn, {u.id: u.card or 0 for u in new})
    journal_rows.insert_journals(conn, [
        lending.opening_balance(u.id, account(u.id), amount, today)
        for u in new for account, amount in ((ledger.wallet, u.wallet), (ledger.fund, u.fund))
        if amount])
    changes = [_changed(u) for u in users if u.id in present]
    user_rows.update_users(conn, [c for c in changes if len(c) > 1])
    return {"created": len(new), "updated": len(users) - len(new)}


def _consent(u: intake.UserRecord) -> dict[str, bool]:
    c = u.consent
    if c is None:
        return {}
    return {f"consent_{k}": v for k, v in (("wallet", c.wallet), ("card", c.card),
                                            ("fund", c.fund)) if v is not None}


def _created(u: intake.UserRecord, before: date, config: ProductConfig) -> dict[str, object]:
    score = 600 if u.score is None else u.score
    return {"id": u.id, "name": u.name or "", "phone": u.phone or "",
            "birth_date": u.birth_date,
            "identity_verified": True if u.identity_verified is None else u.identity_verified,
            "identity_expires": u.identity_expires, "card_token": u.card_token,
            "score": score, "credit_limit": u.limit or 0, "wallet": u.wallet or 0,
            "fund": u.fund or 0, "consent_wallet": True, "consent_card": True,
            "consent_fund": True, **_consent(u), "last_recalc": before,
            "last_base": config.base_limit(score),
            "next_recalc": before + timedelta(days=config.limit_recalc_interval_days)}


def _changed(u: intake.UserRecord) -> dict[str, object]:
    sent = u.model_fields_set - {"consent", *intake.CREATION_ONLY}
    return {"id": u.id, **{k: getattr(u, k) for k in sorted(sent) if k != "id"},
            **_consent(u)}


# ---------------------------------------------------------------- a whole book (SPEC 13)
def import_book(conn: Connection, book: book_rules.Book, first_open_day: date,
                config: ProductConfig) -> dict[str, int]:
    """Bring in a validated book under the users' locks: users, loans with their paid
    installments and opening balances, each opening amount an opening journal. What is
    stored already (a user, a loan) is left as it is, so importing twice changes nothing."""
    ids = sorted({u.id for u in book.users})
    user_rows.lock_users(conn, ids)
    present = user_rows.existing(conn, ids)
    new_users = [u for u in book.users if u.id not in present]
    stored_loans = loan_rows.existing_ids(conn, [x.id for x in book.loans])
    new_loans = [x for x in book.loans if x.id not in stored_loans]
    created = {u.id for u in new_users}
    balances = {b.user: b for b in book.balances if b.user in created}
    loans, journals = [], []
    for x in new_loans:
        loan = lending.new_loan(x.id, x.user, x.principal, x.annual_rate_bp, x.term_months,
                                x.disbursed)
        paid_before = loan.installments[x.installments_paid].due_date
        journals.append(lending.bring_in(loan, first_open_day, paid_before))
        loans.append(loan)
    last_disbursed: dict[str, date] = {}
    for x in book.loans:
        last_disbursed[x.user] = max(x.disbursed, last_disbursed.get(x.user, x.disbursed))
    before = first_open_day - timedelta(days=1)
    rows = []
    for u in new_users:
        b = balances.get(u.id)
        rows.append({**u.model_dump(exclude={"limit", "card_token"}),
                     "card_token": u.card_token or None, "credit_limit": u.limit,
                     "wallet": b.wallet if b else 0, "fund": b.fund if b else 0,
                     "last_recalc": before, "last_base": config.base_limit(u.score),
                     "next_recalc": before + timedelta(days=config.limit_recalc_interval_days),
                     "last_disbursed": last_disbursed.get(u.id)})
        for account, amount in ((ledger.wallet(u.id), b.wallet if b else 0),
                                (ledger.fund(u.id), b.fund if b else 0)):
            if amount:
                journals.append(lending.opening_balance(u.id, account, amount, first_open_day))
    user_rows.insert_users(conn, rows)
    user_rows.open_bank_accounts(conn, {u.id: balances[u.id].card if u.id in balances else 0
                                          for u in new_users})
    loan_rows.insert_loans(conn, loans)
    journal_rows.insert_journals(conn, journals)
    return {"users": len(new_users), "loans": len(loans),
            "already_stored": len(book.users) - len(new_users) + len(book.loans) - len(loans)}
