"""Daytime: reminders handed to the notifier inside their window, expired after it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, update

from store import schema as s

NOTIFICATION_PENDING, NOTIFICATION_SENT, NOTIFICATION_EXPIRED = "pending", "sent", "expired"


def dispatch_notifications(engine: Engine, at: datetime) -> tuple[int, int]:
    """At ``at``: mark the pending reminders whose window holds it as handed to the notifier
    (the outbox read), and those whose window has ended as expired, never to be sent late
    (SPEC 14). Returns (sent, expired)."""
    n = s.notifications.c
    pending = n.status == NOTIFICATION_PENDING
    with engine.begin() as conn:
        sent = conn.execute(update(s.notifications).where(
            pending, n.send_from <= at, n.send_until > at).values(status=NOTIFICATION_SENT))
        expired = conn.execute(update(s.notifications).where(
            pending, n.send_until <= at).values(status=NOTIFICATION_EXPIRED))
        return int(sent.rowcount), int(expired.rowcount)
