"""Journals: the ledger's balanced entries and their postings (SPEC 7), inserted in bulk;
a repeated idempotency key violates the unique constraint, so a money effect happens once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from domain.model import Journal
from store import schema as s
from store.bulk import insert_rows


def _owner(account: str) -> str | None:
    parts = account.split(":")
    return parts[1] if len(parts) > 1 else None


JOURNAL_COLUMNS = ("key", "day", "kind", "user_id", "loan_id", "amount")
POSTING_COLUMNS = ("journal_key", "account", "owner", "amount")


def journal_values(journals: Sequence[Journal]) -> tuple[list[tuple[Any, ...]],
                                                         list[tuple[Any, ...]]]:
    """The journals' rows (``JOURNAL_COLUMNS``) and their postings' (``POSTING_COLUMNS``)."""
    return ([(j.key, j.day, j.kind, j.user_id, j.loan_id, j.amount) for j in journals],
            [(j.key, a, _owner(a), v) for j in journals for a, v in j.postings])


def insert_journals(conn: Connection, journals: Sequence[Journal]) -> int:
    """Insert journals and their postings; a repeated key violates the unique constraint."""
    if not journals:
        return 0
    rows, postings = journal_values(journals)
    insert_rows(conn, s.journals, JOURNAL_COLUMNS, rows)
    insert_rows(conn, s.postings, POSTING_COLUMNS, postings)
    return len(journals)


def fund_redeemed(conn: Connection, user_ids: Collection[str], on: date) -> dict[str, int]:
    """What each user's fund has already paid on ``on`` (the daily cap's use)."""
    if not user_ids:
        return {}
    rows = conn.execute(select(s.journals.c.user_id, func.sum(s.journals.c.amount))
                        .where(s.journals.c.day == on, s.journals.c.kind == "deduct_fund",
                               s.journals.c.user_id.in_(sorted(user_ids)))
                        .group_by(s.journals.c.user_id))
    return {r[0]: int(r[1]) for r in rows}
