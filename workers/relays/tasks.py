"""The relays' Celery tasks: beat runs each every minute (schedules/beat.py)."""

from __future__ import annotations

from typing import Any

from domain.outbox import RelayName
from schedules import business_date
from store import outboxes
from workers import hooks, payloads, relays, runtime, settings
from workers.celery_app import app
from workers.relays import sinks
from workers.task_base import CreditTask


def relay(name: RelayName) -> dict[str, Any]:
    """Run relay ``name`` against its configured sink (none: its rows wait; reminders
    past their window still expire)."""
    config, engine = runtime.config(), runtime.engine()
    sink = sinks.sink(name)
    if sink is None:
        expired = 0
        if name == "notifications":
            with engine.begin() as conn:
                expired = outboxes.expire_unsent(conn, business_date.now(config.time_zone))
        return {"relay": name, "sink": None, "expired": expired}
    result = relays.run(engine, name, sink,
                        business_now=lambda: business_date.now(config.time_zone),
                        max_attempts=config.outbox_max_attempts,
                        scale=settings.get().retry_scale)
    return {"relay": name, "sink": sink.url, **result.as_dict()}


@hooks.task(app, "creditcycle.relay.notifications", CreditTask)
def relay_notifications(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Deliver reminders inside their send window; expire those past it."""
    self.validate(payloads.Empty, kwargs, args)
    return relay("notifications")


@hooks.task(app, "creditcycle.relay.agencies", CreditTask)
def relay_agencies(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Deliver each agency's handoffs, recall and written_off records."""
    self.validate(payloads.Empty, kwargs, args)
    return relay("agencies")


@hooks.task(app, "creditcycle.relay.bureau", CreditTask)
def relay_bureau(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Deliver the bureau records and the monthly bureau file."""
    self.validate(payloads.Empty, kwargs, args)
    return relay("bureau")
