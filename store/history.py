"""One borrower's history, for ``creditcycle explain``: a handful of indexed reads by user
id from every table that mentions them. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from domain.model import Loan
from store import schema as s
from store.loans import load_loans


@dataclass
class UserHistory:
    """Everything recorded about one borrower, oldest first."""

    user: Any
    loans: list[Loan]
    card: Any | None
    journals: list[Any] = field(default_factory=list)
    postings: dict[str, list[Any]] = field(default_factory=dict)
    bank_debits: list[Any] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    loan_events: list[Any] = field(default_factory=list)
    score_events: list[Any] = field(default_factory=list)
    limit_events: list[Any] = field(default_factory=list)
    notifications: list[Any] = field(default_factory=list)
    bureau_records: list[Any] = field(default_factory=list)
    cases: list[Any] = field(default_factory=list)
    handoffs: list[Any] = field(default_factory=list)
    refusals: list[Any] = field(default_factory=list)
    penalty_days: list[Any] = field(default_factory=list)
    """(loan_id, day) of each day penalty interest was charged for (booked accruals)."""


def user_history(conn: Connection, user_id: str) -> UserHistory | None:
    """One borrower's rows from every table that mentions them; None for an unknown id."""
    user = conn.execute(select(s.users).where(s.users.c.id == user_id)).first()
    if user is None:
        return None
    loans = load_loans(conn, s.loans.c.user_id == user_id)
    loan_ids = [x.id for x in loans]
    card = conn.execute(select(s.sim_bank_accounts).where(
        s.sim_bank_accounts.c.user_id == user_id)).first()
    j = s.journals.c
    journals = list(conn.execute(select(s.journals).where(j.user_id == user_id)
                                 .order_by(j.day, j.id)))
    postings: dict[str, list[Any]] = {}
    p = s.postings.c
    keys = [r.key for r in journals if r.kind != "penalty"]
    for start in range(0, len(keys), 500):
        for row in conn.execute(select(s.postings).where(
                p.journal_key.in_(keys[start:start + 500]))):
            postings.setdefault(row.journal_key, []).append(row)
    b = s.bank_debits.c
    e = s.events.c
    le = s.loan_events.c
    se = s.score_events.c
    lim = s.limit_events.c
    n = s.notifications.c
    br = s.bureau_records.c
    cc = s.collection_cases.c
    h = s.handoffs.c
    rf = s.refusals.c
    pa = s.penalty_accruals.c
    return UserHistory(
        user=user, loans=loans, card=card, journals=journals, postings=postings,
        bank_debits=list(conn.execute(select(s.bank_debits).where(b.user_id == user_id)
                                      .order_by(b.day, b.key))),
        events=list(conn.execute(select(s.events).where(e.user_id == user_id)
                                 .order_by(e.day, e.id))),
        loan_events=list(conn.execute(select(s.loan_events).where(le.user_id == user_id)
                                      .order_by(le.day, le.id))),
        score_events=list(conn.execute(select(s.score_events).where(se.user_id == user_id)
                                       .order_by(se.day, se.seq))),
        limit_events=list(conn.execute(select(s.limit_events).where(lim.user_id == user_id)
                                       .order_by(lim.day))),
        notifications=list(conn.execute(select(s.notifications).where(n.user_id == user_id)
                                        .order_by(n.day, n.loan_id, n.kind))),
        bureau_records=list(conn.execute(select(s.bureau_records).where(
            br.user_id == user_id, br.kind != "MONTHLY").order_by(br.day, br.loan_id))),
        cases=list(conn.execute(select(s.collection_cases).where(cc.user_id == user_id)
                                .order_by(cc.opened_on, cc.id))),
        handoffs=list(conn.execute(select(s.handoffs).where(h.loan_id.in_(loan_ids))
                                   .order_by(h.day, h.loan_id))) if loan_ids else [],
        refusals=list(conn.execute(select(s.refusals).where(rf.user_id == user_id)
                                   .order_by(rf.day, rf.id))),
        penalty_days=list(conn.execute(select(pa.loan_id, pa.day).distinct().where(
            pa.loan_id.in_(loan_ids), pa.booked.is_(True)).order_by(pa.loan_id, pa.day)))
        if loan_ids else [],
    )
