"""Loan applications: the rows of applications waiting for their video audit, expired in
one statement."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, update

from store import schema as s


def expire_waiting(conn: Connection, submitted_before: datetime, at: datetime) -> int:
    """Cancel (at ``at``) every application still waiting for its audit that was submitted
    before ``submitted_before``, in one UPDATE; returns how many."""
    a = s.loan_applications.c
    result = conn.execute(update(s.loan_applications).where(
        a.status == "waiting_audit", a.submitted_at < submitted_before)
        .values(status="cancelled", closed_at=at))
    return result.rowcount
