"""Card debits: the bank_debits asked of the bank, by key (``pending_debits``), and the
in-database bank simulator's SQL: cards and debits in tables of creditcycle's own
database (``sim_bank_accounts``, ``sim_bank_requests``), in transactions of their own.

Used by the scenario runner, the in-process close and tests that ask for it; a
deployment, the demo and the drills use a bank over HTTP (``adapters.bank_http``,
the simulator ``adapters.bank_sim``). In this simulator a pending debit set to fail
resolves failed with ``outage`` (``insufficient_funds`` only when the card holds
nothing). Asking twice with the same key never takes twice: the first outcome stays.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, Row, select

from domain.bank import DEBITED, FAILED, PENDING, UNKNOWN, DebitRequest, DebitResult
from domain.waterfall import CardIntent
from store import schema as s
from store.bulk import bulk_update, in_ids, insert_many
from store.selection import in_range, not_held

__all__ = ["SimulatedBank", "card_balances", "insert_intents", "open_debit_users", "open_intents",
           "pending_debits", "pending_of_users", "still_intents", "still_pending",
           "update_debits"]


class SimulatedBank:
    """A bank kept in the same database, in tables of its own and transactions of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def debit(self, requests: Sequence[DebitRequest]) -> list[DebitResult]:
        """Debit each request's card once per key; a repeated key returns the first outcome."""
        if not requests:
            return []
        t, a = s.sim_bank_requests, s.sim_bank_accounts
        with self.engine.begin() as conn:
            # The card's lock first: a second request with the same key (a redelivered
            # chunk running beside the first) waits, then finds the first one's outcome.
            users = sorted({q.user_id for q in requests})
            q_acc = select(a).where(in_ids(conn, a.c.user_id, users)).order_by(a.c.user_id)
            if conn.dialect.name != "sqlite":
                q_acc = q_acc.with_for_update()
            accounts = {r.user_id: r for r in conn.execute(q_acc)}
            known = {r.key: r for r in conn.execute(
                select(t).where(in_ids(conn, t.c.key, [q.key for q in requests])))}
            balance = {u: (accounts[u].balance if u in accounts else 0) for u in users}
            results, new_rows = [], []
            for req in requests:
                if req.key in known:
                    row = known[req.key]
                    results.append(DebitResult(req.key, row.outcome, row.taken, row.reason))
                    continue
                acc = accounts.get(req.user_id)
                status, taken, reason, resolves = DEBITED, 0, None, None
                if acc is None or acc.invalid:
                    status, reason = FAILED, "card_invalid"
                elif acc.outage_day == req.day:
                    status, reason = FAILED, "outage"
                elif acc.timeout_day == req.day:
                    status, resolves = PENDING, acc.timeout_resolves or DEBITED
                elif balance[req.user_id] <= 0:
                    status, reason = FAILED, "insufficient_funds"
                else:
                    taken = min(balance[req.user_id], req.amount)
                    balance[req.user_id] -= taken
                new_rows.append({"key": req.key, "user_id": req.user_id, "amount": req.amount,
                                 "outcome": status, "taken": taken, "reason": reason,
                                 "resolves": resolves})
                results.append(DebitResult(req.key, status, taken, reason))
            insert_many(conn, t, new_rows)
            self._save_balances(conn, accounts, balance)
        return results

    def query(self, keys: Sequence[str]) -> list[DebitResult]:
        """The outcome of earlier debits; a pending one resolves now as it was set to."""
        if not keys:
            return []
        t, a = s.sim_bank_requests, s.sim_bank_accounts
        with self.engine.begin() as conn:
            lock = conn.dialect.name != "sqlite"
            q_req = select(t).where(in_ids(conn, t.c.key, keys)).order_by(t.c.key)
            rows = {r.key: r for r in conn.execute(q_req.with_for_update() if lock else q_req)}
            users = sorted({r.user_id for r in rows.values() if r.outcome == PENDING})
            q_acc = select(a).where(in_ids(conn, a.c.user_id, users)).order_by(a.c.user_id)
            if lock:
                q_acc = q_acc.with_for_update()
            accounts = {r.user_id: r for r in conn.execute(q_acc)}
            balance = {u: (accounts[u].balance if u in accounts else 0) for u in users}
            results: list[DebitResult] = []
            resolved: dict[str, dict[str, Any]] = {}
            for key in keys:
                row = rows.get(key)
                if row is None:
                    results.append(DebitResult(key, UNKNOWN))
                    continue
                if row.outcome != PENDING:
                    results.append(DebitResult(key, row.outcome, row.taken, row.reason))
                    continue
                if row.resolves == FAILED:
                    # The bank's own trouble (the one that timed the call out) failed it; a
                    # card with nothing on it would have failed for that anyway.
                    empty = balance.get(row.user_id, 0) <= 0
                    outcome, taken = FAILED, 0
                    reason: str | None = "insufficient_funds" if empty else "outage"
                else:
                    taken = min(balance.get(row.user_id, 0), row.amount)
                    outcome, reason = (DEBITED, None) if taken > 0 else (FAILED,
                                                                         "insufficient_funds")
                    balance[row.user_id] = balance.get(row.user_id, 0) - taken
                resolved[key] = {"key": key, "outcome": outcome, "taken": taken,
                                 "reason": reason}
                results.append(DebitResult(key, outcome, taken, reason))
            # One statement for the resolved ones (all locked above), not one per key.
            bulk_update(conn, t, ["key"], list(resolved.values()))
            self._save_balances(conn, accounts, balance)
        return results

    @staticmethod
    def _save_balances(conn: Connection, accounts: dict[str, Row[Any]],
                       balance: dict[str, int]) -> None:
        rows = [{"user_id": u, "balance": v} for u, v in balance.items()
                if u in accounts and accounts[u].balance != v]
        bulk_update(conn, s.sim_bank_accounts, ["user_id"], rows)


def card_balances(conn: Connection) -> list[tuple[str, int, bool]]:
    """Every simulated card of a user with a linked card, as (the user's card token,
    balance, invalid), in one read: what a bank simulator process is seeded with (drills,
    demo). A user without a token has no card the bank knows (and is never debited)."""
    a, u = s.sim_bank_accounts.c, s.users.c
    return [(r.card_token, int(r.balance), bool(r.invalid)) for r in conn.execute(
        select(u.card_token, a.balance, a.invalid).join(s.users, u.id == a.user_id)
        .where(u.card_token.is_not(None), u.card_token != "").order_by(u.card_token))]


def pending_debits(conn: Connection, status: str, limit: int = 5000) -> list[Any]:
    """Up to ``limit`` debits whose status is ``status`` (pending), by user id."""
    b = s.bank_debits.c
    return list(conn.execute(select(s.bank_debits).where(b.status == status)
                             .order_by(b.user_id).limit(limit)).all())


# ---------------------------------------------------------------- the steps' debit rows
INTENT = "intent"


def open_debit_users(conn: Connection, user_ids: Collection[str]) -> set[str]:
    """The users of ``user_ids`` with a card debit still open (an intent or pending)."""
    if not user_ids:
        return set()
    b = s.bank_debits.c
    return set(conn.execute(select(b.user_id).where(
        in_ids(conn, b.user_id, user_ids), b.status.in_((INTENT, PENDING)))).scalars())


def update_debits(conn: Connection, updates: list[dict[str, object]]) -> None:
    """Write the bank's answers to their debit rows (``b_key`` names the row), one bulk
    UPDATE."""
    bulk_update(conn, s.bank_debits, ["key"],
                [{("key" if k == "b_key" else k): v for k, v in u.items()} for u in updates])


def insert_intents(conn: Connection, intents: Collection[CardIntent]) -> set[str]:
    """Record card debit intents before the bank is asked; a key already stored is left as
    it is. Returns the keys recorded now. The stored keys are read first, under the
    caller's user locks (an intent's key holds its user), so the rest go in by plain COPY;
    a key another writer stored meanwhile would fail the transaction, never be skipped."""
    if not intents:
        return set()
    b = s.bank_debits.c
    stored = set(conn.execute(select(b.key).where(
        in_ids(conn, b.key, [i.key for i in intents]))).scalars())
    insert_many(conn, s.bank_debits, [
        {"key": i.key, "user_id": i.user_id, "day": i.day, "attempt": i.attempt,
         "amount": i.amount, "card_token": i.card_token, "status": INTENT}
        for i in intents if i.key not in stored])
    return {i.key for i in intents} - stored


def open_intents(conn: Connection, on: date, lo: str, hi: str) -> list[DebitRequest]:
    """The intents of ``on`` of users ``lo``..``hi`` (not held) not yet resolved, of any
    attempt, by user and key; each with the card token its intent was made for."""
    b = s.bank_debits.c
    rows = conn.execute(select(s.bank_debits).where(
        b.day == on, b.status == INTENT, in_range(b.user_id, lo, hi),
        not_held(b.user_id, on)).order_by(b.user_id, b.key)).all()
    return [DebitRequest(r.key, r.user_id, r.amount, r.day, card_token=r.card_token)
            for r in rows]


def still_intents(conn: Connection, keys: Collection[str]) -> set[str]:
    """Those of ``keys`` whose debit is still an intent."""
    if not keys:
        return set()
    b = s.bank_debits.c
    return set(conn.execute(select(b.key).where(
        in_ids(conn, b.key, keys), b.status == INTENT)).scalars())


def pending_of_users(conn: Connection, on: date, lo: str, hi: str) -> list[Row[Any]]:
    """The pending debits of users ``lo``..``hi`` not held on ``on`` (whole rows)."""
    b = s.bank_debits.c
    return list(conn.execute(select(s.bank_debits).where(
        b.status == PENDING, in_range(b.user_id, lo, hi), not_held(b.user_id, on))).all())


def still_pending(conn: Connection, keys: Sequence[str]) -> set[str]:
    """Those of ``keys`` whose debit is still pending."""
    b = s.bank_debits.c
    return set(conn.execute(select(b.key).where(
        b.key.in_(list(keys)), b.status == PENDING)).scalars())
