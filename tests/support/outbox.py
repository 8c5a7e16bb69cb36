"""Outbox rows for the relays' tests: handoffs, closed agency cases, reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, insert

from store import schema as s

D = date(2026, 5, 16)
T0 = datetime(2026, 5, 17, 1, 0, tzinfo=UTC)
ALPHA = "Alpha Recovery"


def add_handoffs(engine: Engine, agency: str, day: date, loans: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(s.handoffs), [
            {"day": day, "loan_id": loan, "agency": agency, "masked_name": "Z*",
             "masked_phone": "138****0000", "contact_token": f"t-{loan}",
             "amount_owed": 129198, "dpd": 91} for loan in loans])


def add_case(engine: Engine, loan: str, agency: str | None, outcome: str, closed: date,
             stage: str = "agency") -> None:
    with engine.begin() as conn:
        conn.execute(insert(s.collection_cases), [
            {"loan_id": loan, "user_id": "u-" + loan, "stage": stage, "agency": agency,
             "opened_on": closed - timedelta(days=30), "closed_on": closed,
             "outcome": outcome, "paid_at_open": 0, "recovered": 0}])


def add_reminders(engine: Engine, loans: list[str], start: datetime, end: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(insert(s.notifications), [
            {"day": D, "user_id": "u-" + loan, "loan_id": loan, "kind": "due_soon",
             "send_from": start, "send_until": end} for loan in loans])
