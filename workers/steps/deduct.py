"""The deduction step: wallet, then card (intent, call, result), then fund."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Engine, select

from domain import deduction
from domain.config import ProductConfig
from domain.deduction import CLOSE_OF_BUSINESS
from domain.steps import Step, StepKey
from store import cycle as cyc
from store import repo
from store import schema as s
from store.bulk import insert_ignore_many
from workers.bank import DEBITED, FAILED, PENDING, UNKNOWN, BankChannel, DebitRequest
from workers.steps.common import pending_users, update_debits


def deduct_key(attempt: str) -> StepKey:
    """The step of a deduction attempt (``HHMM``, or the close of business)."""
    return StepKey(Step.DEDUCT, None if attempt == CLOSE_OF_BUSINESS else attempt)


def deduct(engine: Engine, on: date, lo: str, hi: str, chunk_no: int, config: ProductConfig,
           channel: BankChannel, attempt: str = CLOSE_OF_BUSINESS, *, key: StepKey | None = None
           ) -> int:
    """One deduction attempt for a chunk: wallet, then card (intent, call, result), then fund."""
    step = (key or deduct_key(attempt)).label
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


def _deduct_wallet_and_intents(conn: Connection, on: date, user_ids: list[str], attempt: str,
                               daytime: bool, late: int) -> int:
    """Users with money due (read before their lock: a prepayment meanwhile only
    leaves some of them owing nothing, which the waterfall handles)."""
    if not user_ids:
        return 0
    users = repo.load_users(conn, user_ids, lock=True)
    loans = repo.live_loans_of(conn, user_ids, due_by=on)
    by_user = repo.loans_by_user(loans)
    pending = pending_users(conn, user_ids)
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
    update_debits(conn, updates)
    # A debit still pending (this one or an earlier one) stops the waterfall before the fund.
    pending = pending_users(conn, funded)
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
