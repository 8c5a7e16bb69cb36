"""The whole final state of a (small) database, as a scenario's result reports it.

One ordered read per table: a scenario's database holds a story, not a portfolio.
The orders are the result JSON's (SPEC section 11), so equal stories give equal files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from domain.model import Loan
from store import cards
from store import loans as loan_rows
from store import schema as s


@dataclass(frozen=True)
class FinalState:
    """Every row a scenario's result shows, in the result's order."""

    users: list[Any]
    cards: dict[str, int]
    loans: list[Loan]
    score_events: list[Any]
    limit_events: list[Any]
    notifications: list[Any]
    bureau_records: list[Any]
    handoffs: list[Any]
    journals: list[Any]
    refusals: list[Any]


def final_state(conn: Connection) -> FinalState:
    """Read the database's final state (users by id, loans with their installments, and
    the events, notices, files, handoffs, journals and refusals by date)."""
    se, le, n = s.score_events.c, s.limit_events.c, s.notifications.c
    b, h, j, rf = s.bureau_records.c, s.handoffs.c, s.journals.c, s.refusals.c

    def rows(q: Any) -> list[Any]:
        return list(conn.execute(q))

    return FinalState(
        users=rows(select(s.users).order_by(s.users.c.id)),
        cards=cards.balances(conn),
        loans=loan_rows.all_loans(conn),
        score_events=rows(select(s.score_events).order_by(
            se.day, func.coalesce(se.loan_id, se.user_id), se.user_id, se.seq)),
        limit_events=rows(select(s.limit_events).order_by(le.day, le.user_id)),
        notifications=rows(select(s.notifications).order_by(n.day, n.loan_id, n.kind)),
        bureau_records=rows(select(s.bureau_records).order_by(b.day, b.loan_id, b.kind)),
        handoffs=rows(select(s.handoffs).order_by(h.day, h.loan_id)),
        journals=rows(select(s.journals).order_by(
            j.day, func.coalesce(j.loan_id, j.user_id, ""), j.id)),
        refusals=rows(select(s.refusals).order_by(
            rf.day, func.coalesce(rf.loan_id, rf.user_id), rf.id)),
    )
