"""The chaos drill's bank: the faults it sets, the clean run's replay of the bank's answers,
and the check of the bank's own ledger against creditcycle's card journals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine, func, select

from domain.bank import PENDING, UNKNOWN, BankChannel, DebitRequest, DebitResult
from domain.config import ProductConfig
from store import schema as s

BANK_READ_TIMEOUT = 4.0
NO_BANK_FAULTS = {"timeout_rate": 0.0, "error_rate": 0.0, "late_rate": 0.0, "latency_ms": 0}


@dataclass
class BankCheck:
    """The bank's side of the comparison: its faults, what reconcile resolved, and its
    own ledger against creditcycle's card journals."""

    faults: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    pending_resolved: int = 0
    still_pending: int = 0
    booked_not_taken: int = 0   # creditcycle booked more than the bank took (a double take)
    taken_not_booked: int = 0   # the bank took more than creditcycle booked (a lost debit)
    ledger_mismatches: int = 0
    problems: list[str] = field(default_factory=list)


class ReplayBank:
    """The harmed run's bank answers, for the clean run: a debit the bank never applied,
    or applied and answered late, is pending; a pending key asked on the night the harmed
    run resolved it gets that outcome (unknown, debited, failed), before it pending. The
    clean run then meets the same bank, and any other difference is the harm's."""

    def __init__(self, harmed: Engine, ledger: list[dict[str, Any]], fallback: BankChannel,
                 first: dict[str, str] | None = None) -> None:
        b = s.bank_debits.c
        with harmed.connect() as conn:
            self.rows = {r.key: r for r in conn.execute(
                select(b.key, b.status, b.taken, b.reason, b.resolved_on))}
        self.ledger = {d["key"]: d for d in ledger}
        self.fallback = fallback
        self.first = first  # the harmed run's first booked answer per key, when stamped
        self.sent: set[str] = set()
        self.night = date.min

    def debit(self, requests: Sequence[DebitRequest]) -> list[DebitResult]:
        """What the bank answered the harmed run's first call with each key: pending when
        the harmed run first booked it pending (with ``first``; else when the bank says it
        answered late), otherwise the bank's outcome."""
        out = []
        for r in requests:
            if r.key not in self.rows:  # the harmed run never asked: let the store answer
                out.extend(self.fallback.debit([r]))
                continue
            self.sent.add(r.key)
            d = self.ledger.get(r.key)
            late = d is not None and (d["late"] if self.first is None
                                      else self.first.get(r.key) == PENDING)
            out.append(DebitResult(r.key, PENDING) if d is None or late else
                       DebitResult(r.key, d["status"], d["taken"], d["reason"]))
        return out

    def query(self, keys: Sequence[str]) -> list[DebitResult]:
        """A key's outcome from the night the harmed run resolved it; pending before."""
        out = []
        for k in keys:
            row = self.rows.get(k)
            if row is None:
                out.extend(self.fallback.query([k]))
            elif k not in self.sent:
                out.append(DebitResult(k, UNKNOWN))
            elif row.status != PENDING and row.resolved_on == self.night:
                out.append(DebitResult(k, row.status, int(row.taken), row.reason))
            else:
                out.append(DebitResult(k, PENDING))
        return out


def reconcile_leftovers(engine: Engine, config: ProductConfig, bank: BankChannel,
                         on: date) -> int:
    """What ``reconcile`` of a next night would do with the debits still pending after the
    last one (its query met a fault): ask the bank, resolve them on ``on``."""
    from workers import steps

    b = s.bank_debits.c
    with engine.connect() as conn:
        pending = conn.execute(select(s.bank_debits).where(b.status == PENDING)
                               .order_by(b.user_id, b.key)).all()
    if not pending:
        return 0
    results = {r.key: r for r in bank.query([p.key for p in pending])}
    with engine.begin() as conn:
        return steps.resolve_pending(conn, on, pending, results, config)


def bank_check(engine: Engine, ledger: list[dict[str, Any]],
                faults: dict[str, int]) -> BankCheck:
    """The bank's ledger against creditcycle's debits and card journals, key by key and
    card by card."""
    b, j, u = s.bank_debits.c, s.journals.c, s.users.c
    with engine.connect() as conn:
        debits = {r.key: r for r in conn.execute(select(b.key, b.user_id, b.status, b.taken))}
        booked = {t: int(v) for t, v in conn.execute(  # by card, as the bank's ledger is
            select(u.card_token, func.sum(j.amount)).join(s.users, u.id == j.user_id)
            .where(j.kind == "deduct_card").group_by(u.card_token))}
    check = BankCheck(faults=sum(faults.values()), by_kind=dict(faults))
    check.still_pending = sum(1 for r in debits.values() if r.status in (PENDING, "intent"))
    late = {d["key"] for d in ledger if d["late"]}
    check.pending_resolved = sum(1 for k, r in debits.items()
                                 if r.status == UNKNOWN or (k in late and r.status != PENDING))
    taken: dict[str, int] = {}
    for d in ledger:
        taken[d["card_token"]] = taken.get(d["card_token"], 0) + int(d["taken"])
        row = debits.get(d["key"])
        ours = int(row.taken) if row is not None and row.status == "debited" else 0
        if ours != int(d["taken"]):
            check.ledger_mismatches += 1
            check.problems.append(f"bank key {d['key']}: the bank took {d['taken']}, "
                                  f"creditcycle booked {ours}")
    in_ledger = {d["key"] for d in ledger}
    for key, row in debits.items():
        if row.status == "debited" and key not in in_ledger:
            check.ledger_mismatches += 1
            check.problems.append(f"debit {key} booked {row.taken}, unknown to the bank")
    for card in set(taken) | set(booked):
        if booked.get(card, 0) > taken.get(card, 0):
            check.booked_not_taken += 1
        elif booked.get(card, 0) < taken.get(card, 0):
            check.taken_not_booked += 1
    return check
