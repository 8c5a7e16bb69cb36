"""The relays of the way out (SPEC 14): outbox rows to their sinks, exactly once in effect.

One relay per sink: ``notifications`` (reminders), ``agencies`` (each agency's handoffs,
``recall`` and ``written_off`` records) and ``bureau`` (records and the monthly file).
A run (:func:`run`) forms batches of the rows waiting (their key stored with them before
any attempt), then delivers due batches one at a time: claim (attempt counted, lease
taken), read its rows by key, hand it to the sink outside any transaction, record the
answer. A relay killed after the sink answered leaves the batch pending; the next
attempt sends the same key and the same rows, and the sink drops the copy.

The send window is judged by the business clock (schedules/business_date.py,
``CREDITCYCLE_NOW``); attempts, backoff and leases by the host clock, since they are
about how long a sink takes to come back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from domain import outbox as ob
from domain.outbox import Acknowledged, Batch, Sink
from store import outboxes
from store.engine import Engine
from workers import metrics, settings

log = logging.getLogger("creditcycle.relays")
FAULT_ACKED = "acked"
BUDGET_SECONDS = 60.0


def host_now() -> datetime:
    """The host clock (attempts, backoff, leases)."""
    return datetime.now(UTC)


@dataclass
class RelayResult:
    """What one run did: batches formed and delivered, rows delivered, copies the sink
    dropped, failed attempts, rows that went dead or expired."""

    formed: int = 0
    batches: int = 0
    delivered: int = 0
    copies: int = 0
    failures: int = 0
    dead: int = 0
    expired: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return {"formed": self.formed, "batches": self.batches, "delivered": self.delivered,
                "copies": self.copies, "failures": self.failures, "dead": self.dead,
                "expired": self.expired}


def form(engine: Engine, relay: ob.RelayName, now: datetime, at: datetime) -> tuple[int, int]:
    """Key the rows waiting into batches (reminders: those inside their window at ``now``;
    those past it expire); returns (batches formed, reminders expired)."""
    with engine.begin() as conn:
        expired = outboxes.expire_unsent(conn, now) if relay == "notifications" else 0
        items, where = outboxes.waiting_items(conn, relay, now)
        formed = outboxes.save_batches(conn, ob.plan_batches(items), where, at)
    return formed, expired


def _killed_after_ack(relay: str, attempts: int) -> None:
    """``CREDITCYCLE_FAULT=relay:<relay>:acked`` (drills, tests): die right after the sink
    acknowledged a batch's first attempt, before it is recorded."""
    for item in settings.get().fault.split(","):
        if item == f"relay:{relay}:{FAULT_ACKED}" and attempts == 1:
            os._exit(137)


def deliver_due(engine: Engine, relay: ob.RelayName, sink: Sink, *,
                business_now: Callable[[], datetime], max_attempts: int,
                scale: float = 1.0, clock: Callable[[], datetime] = host_now,
                max_batches: int = 100, budget: float = BUDGET_SECONDS) -> RelayResult:
    """Deliver due batches of ``relay`` one at a time: at most ``max_batches``, and none
    started after ``budget`` seconds (a slow sink must not outlast the task's limit)."""
    out = RelayResult()
    started = clock()
    while out.batches < max_batches and (clock() - started).total_seconds() < budget:
        with engine.begin() as conn:
            claimed = outboxes.claim(conn, relay, clock(), ob.lease(scale))
        if not claimed:
            break
        batch = claimed[0]
        out.batches += 1
        if ob.is_expired(batch.expires_at, business_now()):
            with engine.begin() as conn:
                out.expired += outboxes.mark_expired(conn, batch.key)
            log.info("relay %s: batch %s expired unsent (its window ended %s)", relay,
                     batch.key, batch.expires_at)
            continue
        with engine.connect() as conn:
            rows = outboxes.rows_of(conn, batch)
        answer = sink.deliver(Batch(batch.outbox, batch.key, rows, batch.day))
        if isinstance(answer, Acknowledged):
            _killed_after_ack(relay, batch.attempts)
            with engine.begin() as conn:
                n = outboxes.mark_delivered(conn, batch.key, clock(), duplicate=answer.duplicate)
            out.delivered += n
            out.copies += int(answer.duplicate)
            metrics.outbox_delivered(relay, n)
            continue
        out.failures += 1
        metrics.outbox_failed(relay)
        after = ob.after_failure(answer, batch.attempts, max_attempts, clock(), scale)
        with engine.begin() as conn:
            dead = outboxes.mark_failed(conn, batch.key, after.status, after.retry_at,
                                        f"attempt {batch.attempts}: {answer.cause}")
        out.dead += dead
        if dead:
            log.error("relay %s: batch %s (%s rows) is dead after %s attempts: %s; "
                      "`creditcycle outbox retry` re-queues it", relay, batch.key, dead,
                      batch.attempts, answer.cause)
    return out


def run(engine: Engine, relay: ob.RelayName, sink: Sink, *,
        business_now: Callable[[], datetime], max_attempts: int, scale: float = 1.0,
        clock: Callable[[], datetime] = host_now, max_batches: int = 100) -> RelayResult:
    """One relay run: form batches, deliver what is due, publish the dead rows."""
    formed, expired = form(engine, relay, business_now(), clock())
    out = deliver_due(engine, relay, sink, business_now=business_now,
                      max_attempts=max_attempts, scale=scale, clock=clock,
                      max_batches=max_batches)
    out.formed, out.expired = formed, out.expired + expired
    with engine.connect() as conn:
        metrics.outbox_dead(outboxes.dead_rows(conn))
    return out


__all__ = ["RelayResult", "deliver_due", "form", "host_now", "run"]
