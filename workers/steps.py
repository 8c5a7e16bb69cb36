"""The step functions of the nightly cycle: load a chunk, let the domain decide, write it.

Each function closes one chunk of users (a keyset range ``lo..hi`` of user
ids) for business date ``on`` and is safe to run twice: the chunk's
completion row is written in the transaction of its effects, and a second
run finds it and does nothing. Steps take an engine, not a broker: a test or
the scenario runner calls them directly; Celery tasks are thin wrappers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, bindparam, delete, select, tuple_, update

from domain import collection, deduction, limits, overdue, scoring
from domain.config import ProductConfig
from domain.deduction import CLOSE_OF_BUSINESS
from domain.eligibility import identity_expired
from domain.model import OVERDUE, WRITTEN_OFF, Loan, LoanEvent
from domain.money import is_month_end
from store import agencies, ledger_checks, repo
from store import cycle as cyc
from store import schema as s
from store.bulk import bulk_update, insert_ignore_many
from workers import metrics, settings
from workers.bank import DEBITED, FAILED, PENDING, UNKNOWN, BankChannel, DebitRequest

DEDUCT = "deduct"
OVERDUE_STEP = "overdue"
SCORE = "score"
LIMIT = "limit"
COLLECT = "collect"
RECONCILE = "reconcile"

NOTIFICATION_PENDING, NOTIFICATION_SENT, NOTIFICATION_EXPIRED = "pending", "sent", "expired"

def deduct_step(attempt: str) -> str:
    return DEDUCT if attempt == CLOSE_OF_BUSINESS else f"deduct@{attempt}"


@contextmanager
def chunk_tx(engine: Engine, on: date, step: str, chunk_no: int) -> Iterator[Connection | None]:
    """A transaction that owns the chunk; yields None when the chunk is already done."""
    with engine.begin() as conn:
        row = cyc.claim_chunk(conn, on, step, chunk_no)
        yield None if row is None else conn


# ---------------------------------------------------------------- deduct
def deduct(engine: Engine, on: date, lo: str, hi: str, chunk_no: int, config: ProductConfig,
           channel: BankChannel, attempt: str = CLOSE_OF_BUSINESS, *, key: str | None = None
           ) -> int:
    """One deduction attempt for a chunk: wallet, then card (intent, call, result), then fund."""
    step = key or deduct_step(attempt)
    daytime = attempt != CLOSE_OF_BUSINESS
    late = config.late_attempts_after_days
    rows = 0
    due_users: list[str] | None = None
    with engine.begin() as conn:
        claim = cyc.claim_chunk(conn, on, step, chunk_no)
        if claim is None:
            return 0
        if claim.phase != "intents":
            due_users = repo.users_with_due_debts(conn, lo, hi, on)
            rows += _deduct_wallet_and_intents(conn, on, due_users, attempt, daytime, late)
            cyc.set_phase(conn, on, step, chunk_no, "intents")
    intents = _open_intents(engine, on, lo, hi)
    results = _call_bank(channel, intents)
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, step, chunk_no) is None:
            return 0
        if due_users is None:
            due_users = repo.users_with_due_debts(conn, lo, hi, on)
        rows += _apply_card_results_and_fund(conn, on, results, intents, due_users, attempt,
                                             daytime, late, config)
        cyc.complete_chunk(conn, on, step, chunk_no, rows)
    return rows


def _pending_users(conn: Connection, user_ids: list[str]) -> set[str]:
    if not user_ids:
        return set()
    b = s.bank_debits.c
    return set(conn.execute(select(b.user_id).where(
        repo.in_ids(conn, b.user_id, user_ids), b.status.in_(("intent", PENDING)))).scalars())


def _deduct_wallet_and_intents(conn: Connection, on: date, user_ids: list[str], attempt: str,
                               daytime: bool, late: int) -> int:
    """Users with money due (read before their lock: a prepayment meanwhile only
    leaves some of them owing nothing, which the waterfall handles)."""
    if not user_ids:
        return 0
    users = repo.load_users(conn, user_ids, lock=True)
    loans = repo.live_loans_of(conn, user_ids, due_by=on)
    by_user = repo.loans_by_user(loans)
    pending = _pending_users(conn, user_ids)
    journals, intents = [], []
    for uid in user_ids:
        user, mine = users[uid], by_user.get(uid, [])
        if user.consent_wallet and user.wallet > 0:
            j = deduction.take_from_balance(user, mine, on, attempt, "wallet", user.wallet,
                                            daytime=daytime, late_after_days=late)
            if j:
                journals.append(j)
        amount = deduction.card_request_amount(user, mine, on, daytime=daytime,
                                               late_after_days=late,
                                               has_pending=uid in pending)
        if amount > 0:
            intents.append({"key": deduction.card_key(uid, on, attempt), "user_id": uid,
                            "day": on, "attempt": attempt, "amount": amount,
                            "status": "intent"})
    repo.insert_journals(conn, journals)
    repo.save_users(conn, users.values())
    repo.save_loans(conn, loans)
    insert_ignore_many(conn, s.bank_debits, intents)
    return len(journals) + len(intents)


def _open_intents(engine: Engine, on: date, lo: str, hi: str) -> list[DebitRequest]:
    """The chunk's intents of ``on`` not yet resolved, of any attempt of the day: an intent
    whose own chunk died after the bank call and was quarantined is picked up by the next
    attempt (or the release), which asks the bank; the key makes it safe."""
    b = s.bank_debits.c
    with engine.connect() as conn:
        rows = conn.execute(select(s.bank_debits).where(
            b.day == on, b.status == "intent", repo.in_range(b.user_id, lo, hi),
            repo.not_held(b.user_id, on)).order_by(b.user_id, b.key)).all()
    return [DebitRequest(r.key, r.user_id, r.amount, r.day) for r in rows]


def _call_bank(channel: BankChannel, intents: list[DebitRequest]) -> dict[str, tuple[str, int,
                                                                                   str | None]]:
    """Ask first (a redelivered chunk may have called already), then debit what is unknown."""
    if not intents:
        return {}
    known = {r.key: r for r in channel.query([i.key for i in intents]) if r.status != UNKNOWN}
    fresh = [i for i in intents if i.key not in known]
    for r in channel.debit(fresh):
        known[r.key] = r
    return {k: (r.status, r.taken, r.reason) for k, r in known.items()}


def _apply_card_results_and_fund(conn: Connection, on: date,
                                 results: dict[str, tuple[str, int, str | None]],
                                 intents: list[DebitRequest], due_users: list[str],
                                 attempt: str, daytime: bool, late: int,
                                 config: ProductConfig) -> int:
    """The card's answers, then the fund, in one transaction and one read of the loans:
    loans only of users whose card was debited or whose fund may pay."""
    user_ids = sorted({i.user_id for i in intents} | set(due_users))
    if not user_ids:
        return 0
    users = repo.load_users(conn, user_ids, lock=True)
    b = s.bank_debits.c
    still_open = set(conn.execute(select(b.key).where(
        repo.in_ids(conn, b.key, results), b.status == "intent")).scalars()) if results else set()
    paid = {i.user_id for i in intents if i.key in still_open
            and results[i.key][0] == DEBITED and results[i.key][1] > 0}
    funded = [u for u in due_users if users[u].consent_fund and users[u].fund > 0]
    loans = repo.live_loans_of(conn, paid | set(funded), due_by=on)
    by_user = repo.loans_by_user(loans)
    journals, updates = [], []
    for req in intents:
        if req.key not in still_open:
            continue
        status, taken, reason = results[req.key]
        user = users[req.user_id]
        if status == DEBITED and taken > 0:
            j, _ = deduction.apply_card_debit(user, by_user.get(req.user_id, []), on, req.key,
                                              taken, value_date=on)
            journals.append(j)
        elif status == FAILED and reason == "card_invalid":
            user.card_blocked = True
            user.dirty = True
        updates.append({"b_key": req.key, "status": status, "taken": taken, "reason": reason,
                        "resolved_on": on if status != PENDING else None})
    _update_debits(conn, updates)
    # A debit still pending (this one or an earlier one) stops the waterfall before the fund.
    pending = _pending_users(conn, funded)
    funded = [u for u in funded if u not in pending]
    redeemed = repo.fund_redeemed(conn, funded, on)
    taken_from_fund = 0
    for uid in funded:
        user = users[uid]
        room = max(0, config.fund_daily_redemption_cap - redeemed.get(uid, 0))
        redemption = deduction.take_from_balance(user, by_user.get(uid, []), on, attempt,
                                                 "fund", min(user.fund, room), daytime=daytime,
                                                 late_after_days=late)
        if redemption:
            journals.append(redemption)
            taken_from_fund += 1
    repo.insert_journals(conn, journals)
    repo.save_users(conn, users.values())
    repo.save_loans(conn, loans)
    return len(updates) + taken_from_fund


def _update_debits(conn: Connection, updates: list[dict[str, object]]) -> None:
    bulk_update(conn, s.bank_debits, ["key"],
                [{("key" if k == "b_key" else k): v for k, v in u.items()} for u in updates])


# ---------------------------------------------------------------- overdue
def overdue_chunk(engine: Engine, on: date, lo: str, hi: str, chunk_no: int,
                  config: ProductConfig, *, key: str | None = None) -> int:
    """The overdue step for users ``lo``..``hi``: penalties, days past due, buckets."""
    step = key or OVERDUE_STEP
    with chunk_tx(engine, on, step, chunk_no) as conn:
        if conn is None:
            return 0
        # Read after their users' locks (taken by the read).
        loans = repo.loans_needing_overdue(conn, lo, hi, on, config.grace_days)
        out = overdue.assess(loans, on, config)
        _write_accruals(conn, out)
        repo.insert_journals(conn, out.journals)
        insert_ignore_many(conn, s.loan_events, [
            {"day": e.day, "user_id": e.user_id, "loan_id": e.loan_id, "kind": e.kind,
             "detail": e.detail} for e in out.events])
        rows = repo.save_loans(conn, loans)
        _refresh_user_flags(conn, loans, out, on)
        cyc.complete_chunk(conn, on, step, chunk_no, rows)
        return rows


def _write_accruals(conn: Connection, out: overdue.OverdueOutcome) -> None:
    p = s.penalty_accruals.c
    if out.booked_pending:
        conn.execute(update(s.penalty_accruals).where(
            tuple_(p.loan_id, p.no).in_(out.booked_pending), p.booked.is_(False))
            .values(booked=True))
    if out.dropped_pending:
        conn.execute(delete(s.penalty_accruals).where(
            tuple_(p.loan_id, p.no).in_(out.dropped_pending), p.booked.is_(False)))
    insert_ignore_many(conn, s.penalty_accruals, [
        {"loan_id": a.loan_id, "no": a.installment_no, "day": a.day,
         "principal_base": a.principal_base, "amount": a.amount, "booked": a.booked}
        for a in out.accruals])


def _refresh_user_flags(conn: Connection, loans: list[Loan], out: overdue.OverdueOutcome,
                        on: date) -> None:
    """Frozen while any loan is overdue; the recalculation is due when a status moved."""
    frozen: dict[str, bool] = defaultdict(bool)
    for x in loans:
        frozen[x.user_id] |= x.status == OVERDUE
    rows = conn.execute(select(s.users.c.id, s.users.c.limit_frozen,
                               s.users.c.overdue_history_pending, s.users.c.next_recalc)
                        .where(s.users.c.id.in_(sorted(frozen)))).all()
    updates = []
    for r in rows:
        changed = r.id in out.status_changed_users
        history = r.overdue_history_pending or (r.id in out.cleared_users and not frozen[r.id])
        next_recalc = on if changed and (r.next_recalc is None or r.next_recalc > on) \
            else r.next_recalc
        if (frozen[r.id], history, next_recalc) != (r.limit_frozen, r.overdue_history_pending,
                                                    r.next_recalc):
            updates.append({"id": r.id, "limit_frozen": frozen[r.id],
                            "overdue_history_pending": history, "next_recalc": next_recalc})
    repo.update_users(conn, updates)


# ---------------------------------------------------------------- score
def score_chunk(engine: Engine, on: date, lo: str, hi: str, chunk_no: int,
                config: ProductConfig, *, key: str | None = None) -> int:
    """The score step for users ``lo``..``hi``: the day's loan and external events."""
    step = key or SCORE
    with chunk_tx(engine, on, step, chunk_no) as conn:
        if conn is None:
            return 0
        le = s.loan_events.c
        held = repo.not_held(le.user_id, on)
        events = [_loan_event(r) for r in conn.execute(
            select(s.loan_events).where(le.day == on, repo.in_range(le.user_id, lo, hi), held)
            .order_by(le.id))]
        ev = s.events.c
        external = list(conn.execute(select(ev.user_id).distinct().where(
            ev.day == on, ev.kind == "external_overdue", repo.in_range(ev.user_id, lo, hi),
            repo.not_held(ev.user_id, on))).scalars())
        user_ids = sorted({e.user_id for e in events} | set(external))
        rows = repo.lock_user_rows(conn, repo.in_ids(conn, s.users.c.id, user_ids),
                                   ("score", "last_external_overdue")) if user_ids else {}
        states = [scoring.ScoreState(u, rows[u].score, rows[u].last_external_overdue)
                  for u in user_ids]
        decisions = scoring.score_users(states, events, external, on, config)
        insert_ignore_many(conn, s.score_events, [
            {"day": e.day, "user_id": e.user_id, "loan_id": e.loan_id, "reason": e.reason,
             "old": e.old, "new": e.new, "seq": e.seq} for d in decisions for e in d.events])
        repo.update_users(conn, [
            {"id": d.user_id, "score": d.score, "last_external_overdue": d.last_external_overdue,
             "next_recalc": on} for d in decisions])
        _bureau_records(conn, events)
        cyc.complete_chunk(conn, on, step, chunk_no, len(decisions))
        return len(decisions)


def _loan_event(row: Any) -> LoanEvent:
    return LoanEvent(row.day, row.user_id, row.loan_id, row.kind, row.detail)


def _bureau_records(conn: Connection, events: list[LoanEvent]) -> None:
    wanted = [e for e in events if e.kind in scoring.BUREAU_KIND and e.loan_id]
    if not wanted:
        return
    lo = s.loans.c
    status = {r.id: r for r in conn.execute(select(lo.id, lo.status, lo.dpd).where(
        lo.id.in_([e.loan_id for e in wanted])))}
    rows = []
    for e in wanted:
        kind = scoring.BUREAU_KIND[e.kind]
        loan = status[e.loan_id]
        rows.append({"day": e.day, "user_id": e.user_id, "loan_id": e.loan_id, "kind": kind,
                     "status": WRITTEN_OFF if kind == "WRITTEN_OFF" else loan.status,
                     "dpd": loan.dpd})
    insert_ignore_many(conn, s.bureau_records, rows)


# ---------------------------------------------------------------- limit
def limit_chunk(engine: Engine, on: date, lo: str, hi: str, chunk_no: int,
                config: ProductConfig, *, key: str | None = None) -> int:
    """The limit step for users ``lo``..``hi`` whose recalculation is due."""
    step = key or LIMIT
    with chunk_tx(engine, on, step, chunk_no) as conn:
        if conn is None:
            return 0
        u = s.users.c
        rows = repo.lock_user_rows(conn, and_(
            repo.in_range(u.id, lo, hi), u.next_recalc <= on, repo.not_held(u.id, on)),
            LIMIT_COLUMNS)
        decisions = recalculate_limits(conn, list(rows), on, config, rows=rows)
        cyc.complete_chunk(conn, on, step, chunk_no, len(decisions))
        return len(decisions)


LIMIT_COLUMNS = ("score", "credit_limit", "limit_frozen", "closed", "activity", "last_disbursed",
                 "last_increase", "last_base", "overdue_history_pending", "identity_expires")


def recalculate_limits(conn: Connection, user_ids: list[str], on: date,
                       config: ProductConfig, *, rows: dict[str, Any] | None = None
                       ) -> list[limits.LimitDecision]:
    """Recalculate the limits of ``user_ids`` (locked by the caller; ``rows`` their
    rows with ``LIMIT_COLUMNS`` when the caller read them with the lock)."""
    if not user_ids:
        return []
    if rows is None:
        rows = repo.load_user_rows(conn, user_ids, LIMIT_COLUMNS)
    le = s.loan_events.c
    closing = set(conn.execute(select(le.user_id).where(
        le.day == on, le.kind == "WRITE_OFF_DUE",
        repo.in_ids(conn, le.user_id, user_ids))).scalars())
    states = [limits.LimitState(
        user_id=r.id, score=r.score, limit=r.credit_limit, frozen=r.limit_frozen,
        closed=r.closed or r.id in closing, activity=repo.activity_of(r),
        last_disbursed=r.last_disbursed, last_increase=r.last_increase,
        last_base=r.last_base, overdue_history_pending=r.overdue_history_pending,
        identity_expired=identity_expired(r.identity_expires, on))
        for r in (rows[x] for x in user_ids)]
    decisions = limits.recalculate(states, on, config)
    insert_ignore_many(conn, s.limit_events, [
        {"day": on, "user_id": d.user_id, "old": d.old, "new": d.new,
         "reasons": ",".join(d.reasons)} for d in decisions if d.changed])
    nxt = on + timedelta(days=config.limit_recalc_interval_days)
    repo.update_users(conn, [
        {"id": d.user_id, "credit_limit": d.new, "last_increase": d.last_increase,
         "last_base": d.last_base, "overdue_history_pending": d.overdue_history_pending,
         "last_recalc": on, "next_recalc": nxt} for d in decisions])
    return decisions


# ---------------------------------------------------------------- collect
def collect_chunk(engine: Engine, on: date, lo: str, hi: str, chunk_no: int,
                  config: ProductConfig, *, key: str | None = None) -> int:
    """The collection step for users ``lo``..``hi``: reminders, cases, handoffs, write-offs."""
    step = key or COLLECT
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
        cyc.complete_chunk(conn, on, step, chunk_no, rows)
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


HANDOFF_HELD = "held"


def no_agency(waiting: int) -> str:
    return (f"no active collection agency: {waiting} handoff(s) wait; add one with "
            "`creditcycle agencies add NAME` (the held pass then goes through)")


def handoff_pass(engine: Engine, on: date, *, key: str | None = None) -> int:
    """Assign the day's handoffs, in loan id order, to the least-loaded active agency.

    With none active the pass is held: its chunk stays open (phase ``held``, the cause
    in ``last_error``) and its cases wait, unassigned, for a pass that finds one. Cases
    of earlier dates still waiting go with this date's.
    """
    c = s.collection_cases.c
    step = key or "handoff"
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, step, 0) is None:
            return 0
        q = select(c.id, c.loan_id, c.user_id).where(
            c.stage == "agency", c.agency.is_(None), c.closed_on.is_(None), c.opened_on <= on
        ).order_by(c.loan_id)
        # A held pass retried beside the night's own: each case is assigned once.
        pending = conn.execute(q.with_for_update() if conn.dialect.name == "postgresql"
                               else q).all()
        if not pending:
            cyc.complete_chunk(conn, on, step, 0, 0)
            return 0
        counts = agencies.open_cases_of_active(conn)
        if not counts:
            cyc.set_phase(conn, on, step, 0, HANDOFF_HELD)
            cyc.record_error(conn, on, step, 0, no_agency(len(pending)))
            return 0
        assigned = dict(collection.assign_agencies([p.loan_id for p in pending], counts))
        repo.lock_users(conn, {p.user_id for p in pending})
        loans = {x.id: x for x in repo.load_loans(conn, s.loans.c.id.in_(list(assigned)))}
        people = repo.load_user_rows(conn, {p.user_id for p in pending})
        handoffs, secret = [], settings.get().contact_secret_or_dev()
        conn.execute(update(s.collection_cases).where(c.id == bindparam("b_id"))
                     .values(agency=bindparam("agency")),
                     [{"b_id": p.id, "agency": assigned[p.loan_id]} for p in pending])
        for p in pending:
            agency, loan, person = assigned[p.loan_id], loans[p.loan_id], people[p.user_id]
            loan.collection_stage, loan.agency, loan.dirty = "agency", agency, True
            handoffs.append({
                "day": on, "loan_id": loan.id, "agency": agency,
                "masked_name": collection.mask_name(person.name),
                "masked_phone": collection.mask_phone(person.phone),
                "contact_token": collection.contact_token(person.id, secret),
                "amount_owed": collection.amount_owed(loan, on), "dpd": loan.dpd})
        insert_ignore_many(conn, s.handoffs, handoffs)
        repo.save_loans(conn, loans.values())
        cyc.complete_chunk(conn, on, step, 0, len(handoffs))
        return len(handoffs)


# ---------------------------------------------------------------- reconcile
def reconcile_chunk(engine: Engine, on: date, lo: str, hi: str, chunk_no: int,
                    config: ProductConfig, channel: BankChannel, *, key: str | None = None) -> int:
    """Resolve pending card debits of the chunk's users."""
    step = key or RECONCILE
    b = s.bank_debits.c
    with engine.connect() as conn:
        if cyc.chunk_done(conn, on, step, chunk_no):
            return 0
        pending = conn.execute(select(s.bank_debits).where(
            b.status == PENDING, repo.in_range(b.user_id, lo, hi),
            repo.not_held(b.user_id, on))).all()
    results = {r.key: r for r in channel.query([p.key for p in pending])}
    with chunk_tx(engine, on, step, chunk_no) as conn:
        if conn is None:
            return 0
        rows = resolve_pending(conn, on, pending, results, config)
        cyc.complete_chunk(conn, on, step, chunk_no, rows)
        return rows


def resolve_pending(conn: Connection, on: date, pending: Sequence[Row[Any]],
                    results: dict[str, Any],
                    config: ProductConfig) -> int:
    b = s.bank_debits.c
    open_keys = set(conn.execute(select(b.key).where(
        b.key.in_([p.key for p in pending]), b.status == PENDING)).scalars())
    todo = [p for p in pending if p.key in open_keys
            and results[p.key].status in (DEBITED, FAILED)]
    if not todo:
        return 0
    user_ids = sorted({p.user_id for p in todo})
    users = repo.load_users(conn, user_ids, lock=True)
    loans = repo.live_loans_of(conn, user_ids)
    by_user = repo.loans_by_user(loans)
    pa = s.penalty_accruals.c
    journals, updates, accrual_updates = [], [], []
    for p in todo:
        res = results[p.key]
        user = users[p.user_id]
        if res.status == DEBITED and res.taken > 0:
            mine = by_user.get(user.id, [])
            accruals = [(r.loan_id, r.no, r.day, r.principal_base, r.amount, r.booked)
                        for r in conn.execute(select(s.penalty_accruals).where(
                            pa.loan_id.in_([x.id for x in mine]) if mine else pa.loan_id.is_(None),
                            pa.day >= p.day))]
            js, updated = deduction.apply_value_dated_debit(
                user, mine, p.key, res.taken, p.day, on, accruals,
                lambda base, rate: overdue.daily_penalty(base, rate, config))
            journals.extend(js)
            accrual_updates.extend(updated)
        updates.append({"b_key": p.key, "status": res.status, "taken": res.taken,
                        "reason": res.reason, "resolved_on": on})
    repo.insert_journals(conn, journals)
    repo.save_users(conn, users.values())
    repo.save_loans(conn, loans)
    _update_debits(conn, updates)
    if accrual_updates:
        conn.execute(update(s.penalty_accruals).where(
            pa.loan_id == bindparam("b_loan"), pa.no == bindparam("b_no"),
            pa.day == bindparam("b_day")).values(principal_base=bindparam("base"),
                                                  amount=bindparam("amt")),
            [{"b_loan": a[0], "b_no": a[1], "b_day": a[2], "base": a[3], "amt": a[4]}
             for a in accrual_updates])
    return len(updates)


def reconcile_close(engine: Engine, on: date, *, key: str | None = None) -> list[str]:
    """After all chunks: settle the day's card money, then prove every ledger invariant for
    the accounts the day touched (in one consistent view); what is broken goes on the
    close row, which then ends broken instead of done."""
    step = key or "reconcile_close"
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, step, 0) is None:
            return []
        ledger_checks.settle_bank_clearing(conn, on)
    with ledger_checks.consistent_view(engine) as conn:
        problems = ledger_checks.check_day(conn, on)
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, step, 0) is None:
            return []  # another copy finished it (and recorded what it found)
        if problems:
            cyc.record_problem(conn, on, f"{ledger_checks.DAY_PROOF} of {on}: "
                                         + "; ".join(problems))
        cyc.complete_chunk(conn, on, step, 0, len(problems))
    if problems:
        metrics.ledger_proof_failed("day")
    return problems


# ---------------------------------------------------------------- monthly and hourly jobs
def bureau_month_file(engine: Engine, on: date, *, key: str | None = None) -> int:
    """On the last day of a month, every loan's status goes to the bureau."""
    if not is_month_end(on):
        return 0
    step = key or "bureau_file"
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, step, 0) is None:
            return 0
        lo = s.loans.c
        sel = select(lo.id, lo.user_id, lo.status, lo.dpd).where(lo.disbursed <= on)
        rows = [{"day": on, "user_id": r.user_id, "loan_id": r.id, "kind": "MONTHLY",
                 "status": r.status, "dpd": r.dpd} for r in conn.execute(sel)]
        insert_ignore_many(conn, s.bureau_records, rows)
        cyc.complete_chunk(conn, on, step, 0, len(rows))
        return len(rows)


def bureau_month_correction(engine: Engine, on: date, lo: str, hi: str, chunk_no: int, *,
                            key: str) -> int:
    """After held users catch up through a month end, their lines of that month's
    bureau file are replaced by what the file would have said without the hold."""
    if not is_month_end(on):
        return 0
    with chunk_tx(engine, on, key, chunk_no) as conn:
        if conn is None:
            return 0
        lo_, b = s.loans.c, s.bureau_records.c
        loans = conn.execute(select(lo_.id, lo_.user_id, lo_.status, lo_.dpd).where(
            lo_.disbursed <= on, repo.in_range(lo_.user_id, lo, hi))).all()
        conn.execute(delete(s.bureau_records).where(
            b.day == on, b.kind == "MONTHLY", repo.in_range(b.user_id, lo, hi)))
        insert_ignore_many(conn, s.bureau_records, [
            {"day": on, "user_id": r.user_id, "loan_id": r.id, "kind": "MONTHLY",
             "status": r.status, "dpd": r.dpd} for r in loans])
        cyc.complete_chunk(conn, on, key, chunk_no, len(loans))
        return len(loans)


def expire_applications(engine: Engine, at: datetime, config: ProductConfig) -> int:
    """Cancel applications waiting for video audit for more than the configured hours."""
    a = s.loan_applications.c
    limit = at - timedelta(hours=config.application_audit_hours)
    with engine.begin() as conn:
        result = conn.execute(update(s.loan_applications).where(
            a.status == "waiting_audit", a.submitted_at < limit)
            .values(status="cancelled", closed_at=at))
        return result.rowcount


__all__ = [
    "collect_chunk", "deduct", "handoff_pass", "limit_chunk", "overdue_chunk",
    "reconcile_chunk", "reconcile_close", "score_chunk",
]



def dispatch_notifications(engine: Engine, at: datetime) -> tuple[int, int]:
    """At ``at``: mark the pending reminders whose window holds it as handed to the notifier
    (the outbox read), and those whose window has ended as expired, never to be sent late
    (SPEC 14). Returns (sent, expired)."""
    n = s.notifications.c
    pending = n.status == NOTIFICATION_PENDING
    with engine.begin() as conn:
        sent = conn.execute(update(s.notifications).where(
            pending, n.send_from <= at, n.send_until > at).values(status=NOTIFICATION_SENT))
        expired = conn.execute(update(s.notifications).where(
            pending, n.send_until <= at).values(status=NOTIFICATION_EXPIRED))
        return int(sent.rowcount), int(expired.rowcount)
