"""The bank simulator's store: its own SQLite file (WAL) of cards and debits, and its
settable faults, drawn repeatably from a seed (adapters.bank_sim serves them over HTTP)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters.bank_wire import (
    CardToken,
    WireDebit,
)
from domain.bank import DEBITED, FAILED, UNKNOWN

SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    token TEXT PRIMARY KEY,
    balance INTEGER NOT NULL CHECK (balance >= 0),
    fail TEXT CHECK (fail IN ('card_invalid', 'outage'))
);
CREATE TABLE IF NOT EXISTS debits (
    key TEXT PRIMARY KEY,
    card_token TEXT NOT NULL,
    amount INTEGER NOT NULL,
    business_date TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('debited', 'failed')),
    taken INTEGER NOT NULL CHECK (taken >= 0 AND taken <= amount),
    reason TEXT,
    at TEXT NOT NULL,
    late INTEGER NOT NULL DEFAULT 0  -- applied by a call answered late (a fault)
);
CREATE INDEX IF NOT EXISTS debits_card ON debits (card_token);
CREATE TABLE IF NOT EXISTS fault_counts (kind TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""

_ADD_CARDS = ("INSERT INTO cards (token, balance, fail) VALUES (?, ?, ?)"
              " ON CONFLICT (token) DO NOTHING")
_UPSERT_CARDS = ("INSERT INTO cards (token, balance, fail) VALUES (?, ?, ?)"
                 " ON CONFLICT (token) DO UPDATE SET balance = excluded.balance,"
                 " fail = excluded.fail")

Rate = Annotated[float, Field(ge=0, le=1)]


class Faults(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_ms: Annotated[int, Field(ge=0, le=600_000)] = 0
    timeout_rate: Rate = 0.0
    error_rate: Rate = 0.0
    late_rate: Rate = 0.0
    partial_rate: Rate = 0.0
    hang_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    seed: int = 0
    faults_on: Literal["both", "debits", "query"] = "both"


class CardUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    balance: Annotated[int, Field(ge=0, le=10**13)] | None = None
    deposit: Annotated[int, Field(ge=0, le=10**13)] | None = None
    fail: Literal["card_invalid", "outage"] | None = None


class CardsBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    cards: dict[CardToken, CardUpdate]


class Store:
    """The simulator's own SQLite file; used from the one IOLoop thread."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: safe against a killed process
        self.db.execute("PRAGMA busy_timeout=10000")
        self.db.executescript(SCHEMA)

    def debit(self, requests: Sequence[WireDebit], faults: Faults,
              late: bool = False) -> list[dict[str, Any]]:
        """Each key's first outcome; new keys applied now, in one transaction (``late``:
        the call will be answered late, recorded with each key it applies)."""
        db = self.db
        keys = json.dumps([r.key for r in requests])
        tokens = json.dumps(sorted({r.card_token for r in requests}))
        db.execute("BEGIN IMMEDIATE")
        try:
            known = {r["key"]: dict(r) for r in db.execute(
                "SELECT key, status, taken, reason FROM debits"
                " WHERE key IN (SELECT value FROM json_each(?))", (keys,))}
            cards = {r["token"]: dict(r) for r in db.execute(
                "SELECT token, balance, fail FROM cards"
                " WHERE token IN (SELECT value FROM json_each(?))", (tokens,))}
            now = datetime.now(UTC).isoformat()
            new_rows, out = [], []
            for r in requests:
                if r.key in known:
                    out.append(known[r.key])
                    continue
                card = cards.get(r.card_token)
                status, taken, reason = DEBITED, 0, None
                if card is None or card["fail"] == "card_invalid":
                    status, reason = FAILED, "card_invalid"
                elif card["fail"] == "outage":
                    status, reason = FAILED, "outage"
                elif card["balance"] <= 0:
                    status, reason = FAILED, "insufficient_funds"
                else:
                    taken = min(card["balance"], r.amount)
                    if taken > 1 and draw(faults.seed, "partial", r.key) < faults.partial_rate:
                        taken = max(1, int(taken * draw(faults.seed, "part", r.key)))
                    card["balance"] -= taken
                row = {"key": r.key, "status": status, "taken": taken, "reason": reason}
                known[r.key] = row
                out.append(row)
                new_rows.append((r.key, r.card_token, r.amount, r.business_date.isoformat(),
                                 status, taken, reason, now, int(late)))
            db.executemany("INSERT INTO debits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", new_rows)
            db.executemany("UPDATE cards SET balance = ? WHERE token = ?",
                           [(c["balance"], t) for t, c in cards.items()])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return out

    def query(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        known = {r["key"]: dict(r) for r in self.db.execute(
            "SELECT key, status, taken, reason FROM debits"
            " WHERE key IN (SELECT value FROM json_each(?))", (json.dumps(list(keys)),))}
        return [known.get(k) or {"key": k, "status": UNKNOWN, "taken": 0, "reason": None}
                for k in keys]

    def set_cards(self, cards: dict[str, CardUpdate]) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for token, up in cards.items():
                db.execute("INSERT INTO cards (token, balance) VALUES (?, 0)"
                           " ON CONFLICT (token) DO NOTHING", (token,))
                if up.balance is not None:
                    db.execute("UPDATE cards SET balance = ? WHERE token = ?",
                               (up.balance, token))
                if up.deposit:
                    db.execute("UPDATE cards SET balance = balance + ? WHERE token = ?",
                               (up.deposit, token))
                if "fail" in up.model_fields_set:
                    db.execute("UPDATE cards SET fail = ? WHERE token = ?", (up.fail, token))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def load_cards(self, cards: Sequence[tuple[str, int, str | None]], *,
                   replace: bool = True) -> int:
        """Set many cards' (token, balance, fail) at once, in one transaction: how a drill
        seeds a simulator with its portfolio's cards before it starts (set-based, never a
        request per card). A card already there takes the new balance and failure, or
        with ``replace=False`` keeps its own (a restarted simulator keeps what it took).
        Returns how many cards were written."""
        db = self.db
        sql = _UPSERT_CARDS if replace else _ADD_CARDS
        db.execute("BEGIN IMMEDIATE")
        try:
            before = db.total_changes
            db.executemany(sql, cards)
            written = db.total_changes - before
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return written

    def close(self) -> None:
        self.db.close()

    def card(self, token: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT token, balance, fail FROM cards WHERE token = ?",
                              (token,)).fetchone()
        if row is None:
            return None
        taken = self.db.execute("SELECT coalesce(sum(taken), 0) FROM debits"
                                " WHERE card_token = ?", (token,)).fetchone()[0]
        return {**dict(row), "taken": int(taken)}

    def ledger(self, card_token: str | None) -> list[dict[str, Any]]:
        sql = ("SELECT key, card_token, amount, business_date, status, taken, reason, late"
               " FROM debits")
        args: tuple[str, ...] = ()
        if card_token is not None:
            sql, args = sql + " WHERE card_token = ?", (card_token,)
        return [dict(r) for r in self.db.execute(sql + " ORDER BY key", args)]

    def count_fault(self, kind: str) -> None:
        self.db.execute("INSERT INTO fault_counts VALUES (?, 1)"
                        " ON CONFLICT (kind) DO UPDATE SET n = n + 1", (kind,))

    def fault_counts(self) -> dict[str, int]:
        return {r["kind"]: r["n"] for r in self.db.execute("SELECT kind, n FROM fault_counts")}


def draw(seed: int, *parts: str) -> float:
    """A uniform number in [0, 1) that depends only on its arguments."""
    h = hashlib.blake2b(f"{seed}|{'|'.join(parts)}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64
