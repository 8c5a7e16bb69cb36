"""The deduction step: wallet, then card (intent, call, result), then fund."""

from __future__ import annotations

from datetime import date

from domain import waterfall
from domain.config import ProductConfig
from domain.deduction import CLOSE_OF_BUSINESS
from domain.steps import Step, StepKey
from store import cycle as cyc
from store import debits as debit_rows
from store import journals as journal_rows
from store import loans as loan_rows
from store import selection
from store import users as user_rows
from store.engine import Connection, Engine
from workers.bank import DEBITED, FAILED, BankChannel, DebitRequest, believed


def deduct_key(attempt: str) -> StepKey:
    """The step of a deduction attempt (``HHMM``, or the close of business)."""
    return StepKey(Step.DEDUCT, None if attempt == CLOSE_OF_BUSINESS else attempt)


def deduct(engine: Engine, on: date, lo: str, hi: str, chunk_no: int, config: ProductConfig,
           channel: BankChannel, attempt: str = CLOSE_OF_BUSINESS, *, key: StepKey | None = None
           ) -> int:
    """One deduction attempt for a chunk: wallet, then card (intent, call, result), then fund."""
    step = key or deduct_key(attempt)
    how = waterfall.Attempt(on, attempt, attempt != CLOSE_OF_BUSINESS,
                            config.late_attempts_after_days)
    rows = 0
    due_users: list[str] | None = None
    made: set[str] = set()  # the intents this run recorded: no bank has seen their keys
    with engine.begin() as conn:
        claim = cyc.claim_chunk(conn, on, step, chunk_no)
        if claim is None:
            return 0
        if claim.phase != "intents":
            due_users = selection.users_with_due_debts(conn, lo, hi, on)
            written, made = _wallet_and_intents(conn, due_users, how)
            rows += written
            cyc.set_phase(conn, on, step, chunk_no, "intents")
    intents = _open_intents(engine, on, lo, hi)
    answers = _call_bank(channel, intents, made)
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, step, chunk_no) is None:
            return 0
        if due_users is None:
            due_users = selection.users_with_due_debts(conn, lo, hi, on)
        rows += _card_answers_and_fund(conn, answers, intents, due_users, how, config)
        cyc.complete_chunk(conn, on, step, chunk_no, rows)
    return rows


def _wallet_and_intents(conn: Connection, user_ids: list[str], how: waterfall.Attempt
                        ) -> tuple[int, set[str]]:
    """Users with money due (read before their lock: a prepayment meanwhile only
    leaves some of them owing nothing, which the waterfall handles): the rows written and
    the keys of the intents recorded."""
    if not user_ids:
        return 0, set()
    users = user_rows.load_users(conn, user_ids, lock=True)
    loans = loan_rows.live_loans_of(conn, user_ids, due_by=how.on)
    journals, intents = waterfall.wallet_and_card(users, loan_rows.loans_by_user(loans), user_ids,
                                                  debit_rows.open_debit_users(conn, user_ids),
                                                  how)
    journal_rows.insert_journals(conn, journals)
    user_rows.save_users(conn, users.values())
    loan_rows.save_loans(conn, loans)
    made = debit_rows.insert_intents(conn, intents)
    return len(journals) + len(intents), made


def _open_intents(engine: Engine, on: date, lo: str, hi: str) -> list[DebitRequest]:
    """The chunk's intents of ``on`` not yet resolved, of any attempt of the day: an intent
    whose own chunk died after the bank call and was quarantined is picked up by the next
    attempt (or the release), which asks the bank; the key makes it safe."""
    with engine.connect() as conn:
        return debit_rows.open_intents(conn, on, lo, hi)


def _call_bank(channel: BankChannel, intents: list[DebitRequest], made: set[str]
               ) -> dict[str, waterfall.CardAnswer]:
    """Ask first about intents an earlier run may have sent (a redelivered chunk may have
    called already), then debit what is not settled: a query that met a fault (pending)
    spends no attempt, the key makes it safe. Intents this run ``made`` (recorded in the
    transaction that moved the chunk to its intents phase) are not asked about: no run
    could send them before that commit, and one sending them since (a copy of this chunk)
    is answered for the same key by the bank's idempotency. On a fresh night that is every
    intent, and the query was half the bank's calls."""
    if not intents:
        return {}
    amounts = {i.key: i.amount for i in intents}
    asked = [k for k in amounts if k not in made]
    known = {r.key: r for r in (channel.query(asked) if asked else [])
             if r.status in (DEBITED, FAILED) and believed(amounts[r.key], r)}
    fresh = [i for i in intents if i.key not in known]
    for r in channel.debit(fresh):
        known[r.key] = r
    return {k: waterfall.CardAnswer(r.status, r.taken, r.reason) for k, r in known.items()}


def _card_answers_and_fund(conn: Connection, answers: dict[str, waterfall.CardAnswer],
                           intents: list[DebitRequest], due_users: list[str],
                           how: waterfall.Attempt, config: ProductConfig) -> int:
    """The card's answers, then the fund, in one transaction and one read of the loans:
    loans only of users whose card was debited or whose fund may pay."""
    user_ids = sorted({i.user_id for i in intents} | set(due_users))
    if not user_ids:
        return 0
    users = user_rows.load_users(conn, user_ids, lock=True)
    still_open = debit_rows.still_intents(conn, answers)
    answered = [(i.key, i.user_id) for i in intents if i.key in still_open]
    paid = {uid for k, uid in answered if waterfall.debited(answers[k])}
    funded = [u for u in due_users if waterfall.fund_may_pay(users[u])]
    loans = loan_rows.live_loans_of(conn, paid | set(funded), due_by=how.on)
    by_user = loan_rows.loans_by_user(loans)
    journals, updates = waterfall.card_answers(users, by_user, answered, answers, how.on)
    debit_rows.update_debits(conn, [{"b_key": u.key, "status": u.status, "taken": u.taken,
                          "reason": u.reason, "resolved_on": u.resolved_on} for u in updates])
    # A debit still pending (this one or an earlier one) stops the waterfall before the fund.
    pending = debit_rows.open_debit_users(conn, funded)
    funded = [u for u in funded if u not in pending]
    redemptions = waterfall.fund_redemptions(users, by_user, funded,
                                             journal_rows.fund_redeemed(conn, funded, how.on),
                                             config.fund_daily_redemption_cap, how)
    journal_rows.insert_journals(conn, [*journals, *redemptions])
    user_rows.save_users(conn, users.values())
    loan_rows.save_loans(conn, loans)
    return len(updates) + len(redemptions)
