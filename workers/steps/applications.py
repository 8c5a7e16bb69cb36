"""Daytime: applications waiting too long for their video audit expire."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.config import ProductConfig
from store import application_rows
from store.engine import Engine


def expire_applications(engine: Engine, at: datetime, config: ProductConfig) -> int:
    """Cancel applications waiting for video audit for more than the configured hours."""
    limit = at - timedelta(hours=config.application_audit_hours)
    with engine.begin() as conn:
        return application_rows.expire_waiting(conn, limit, at)
