"""Daytime: applications waiting too long for their video audit expire."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, update

from domain.config import ProductConfig
from store import schema as s


def expire_applications(engine: Engine, at: datetime, config: ProductConfig) -> int:
    """Cancel applications waiting for video audit for more than the configured hours."""
    a = s.loan_applications.c
    limit = at - timedelta(hours=config.application_audit_hours)
    with engine.begin() as conn:
        result = conn.execute(update(s.loan_applications).where(
            a.status == "waiting_audit", a.submitted_at < limit)
            .values(status="cancelled", closed_at=at))
        return result.rowcount
