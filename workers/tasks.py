"""Celery tasks: validate the payload, call one function, send what follows.

Every task derives from ``CreditTask`` (``workers.task_base``), which owns the
cross-cutting rules: payload validation with a stored rejection, retries on
exact exception types with backoff and a cap, failures recorded in a table
(Redis has no dead-letter queue). Messages are sent only after the
transaction that justifies them has committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import date
from typing import Any

from domain import intake
from domain.commands import InputError
from domain.commands import Repay as RepayEvent
from domain.steps import StepKey
from schedules import business_date
from store import agencies, debits
from store import cycle_reads as watch
from store import users as user_rows
from store.engine import DBAPIError, OperationalError, now
from workers import (
    cycle,
    faults,
    hooks,
    ingest,
    ingest_batches,
    logs,
    metrics,
    payloads,
    runtime,
    settings,
    steps,
)
from workers.bank import PENDING, ChannelTimeout
from workers.celery_app import CYCLE_QUEUE, TASK_TIME_LIMIT, app
from workers.ingest import apply_events
from workers.task_base import CreditTask

log = logging.getLogger("creditcycle.tasks")
MAX_ATTEMPTS = cycle.MAX_ATTEMPTS
RETRY_SCALE = settings.get().retry_scale


def send(messages: Iterable[cycle.ChunkMessage]) -> int:
    """Send chunk messages under the registered name: Flower labels its /metrics series by
    task name, so a name per chunk would add series every night without end. Its task
    list shows each chunk's date, step and chunk_no in the kwargs."""
    batch = list(messages)
    for m in batch:
        run_chunk.apply_async(kwargs=m.kwargs(), queue=CYCLE_QUEUE)
    return len(batch)


def business_today() -> date:
    """Today's business date in the deployment's time zone (the CLI uses the same)."""
    return business_date.business_today(runtime.config().time_zone)


def _day(value: str | None, default: date) -> date:
    return date.fromisoformat(value) if value else default


# ---------------------------------------------------------------- the cycle
@hooks.task(app, "creditcycle.cycle.run", CreditTask)
def run_cycle(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Close business dates up to ``date`` (default: yesterday), catching up in order."""
    p = self.validate(payloads.CycleRun, kwargs, args)
    zone = runtime.config().time_zone
    target = _day(p.date, business_date.last_ended(zone))
    try:
        business_date.require_ended(target, zone, "date")
    except InputError as exc:
        self._reject(exc.field, exc.message)
    sent = send(cycle.begin(runtime.engine(), target, runtime.config()))
    stop = cycle.broken(runtime.engine())
    if stop is not None:
        log.error("catch-up to %s stopped: %s", target, cycle.describe_broken(stop))
        return {"target": target.isoformat(), "chunks_sent": sent,
                "stopped_at": stop.day.isoformat(), "reason": cycle.describe_broken(stop)}
    return {"target": target.isoformat(), "chunks_sent": sent}


@hooks.task(app, "creditcycle.cycle.chunk", CreditTask)
def run_chunk(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """One chunk of one step of one date; safe to deliver any number of times."""
    p = self.validate(payloads.Chunk, kwargs, args)
    engine, config = runtime.engine(), runtime.config()
    on, key = date.fromisoformat(p.date), p.key
    logs.bind(date=p.date, step=key.label, chunk=p.chunk_no)
    refused = cycle.unplanned(engine, on, key, p.chunk_no, p.lo, p.hi)
    if refused is not None:
        self._reject(*refused)
    if (self.request.delivery_info or {}).get("redelivered"):
        log.info("redelivered chunk %s %s #%s: the database decides", p.date, key.label,
                 p.chunk_no)
    delivery = self.request.delivery_info or {}
    attempt = cycle.start_attempt(engine, on, key, p.chunk_no, lease_s=TASK_TIME_LIMIT,
                                  redelivered=bool(delivery.get("redelivered")))
    rows = 0
    if attempt is None:
        pass  # already done: only make sure the step moves on (below)
    elif attempt > MAX_ATTEMPTS:
        log.error("quarantining %s %s #%s after %s attempts", p.date, key.label, p.chunk_no,
                  attempt - 1)
        cycle.quarantine(engine, on, key, p.chunk_no, p.lo, p.hi,
                         f"failed {attempt - 1} times")
        metrics.chunk_quarantined(key)
    else:
        try:
            faults.check(key, p.lo, p.hi, lambda user: _held(engine, on, user))
            started = time.monotonic()
            rows = cycle.run_chunk(engine, on, key, p.chunk_no, p.lo, p.hi, config,
                                   runtime.channel())
            metrics.chunk_finished(key, rows, time.monotonic() - started)
        except (OperationalError, ChannelTimeout):
            cycle.forget_attempt(engine, on, key, p.chunk_no)
            raise
        except Exception as exc:
            _record_chunk_error(on, key, p.chunk_no, exc)
            cycle.end_lease(engine, on, key, p.chunk_no)
            raise self.retry(exc=exc, countdown=min(2 ** attempt, 30) * RETRY_SCALE,
                             max_retries=MAX_ATTEMPTS + 1) from exc
    following = cycle.chunk_completed(engine, on, key, config)
    faults.check_lost(key, bool(following))
    send(following)
    return {"date": p.date, "step": key.label, "chunk": p.chunk_no, "rows": rows,
            "attempt": attempt}


def _held(engine: Any, on: date, user: str) -> bool:
    with engine.connect() as conn:
        return watch.is_held(conn, on, user)


def _record_chunk_error(on: date, key: StepKey, chunk_no: int, exc: BaseException) -> None:
    from store.cycle import record_error

    try:
        with runtime.engine().begin() as conn:
            record_error(conn, on, key, chunk_no, f"{type(exc).__name__}: {exc}")
    except DBAPIError:
        log.exception("could not record the chunk error")


@hooks.task(app, "creditcycle.cycle.watchdog", CreditTask)
def watchdog(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Re-send chunks nobody finished and advance steps whose last message was lost."""
    self.validate(payloads.Empty, kwargs, args)
    engine, config = runtime.engine(), runtime.config()
    from workers.celery_app import TASK_TIME_LIMIT

    stale = settings.get().stuck_seconds or TASK_TIME_LIMIT * 2
    return recover_lost(engine, config, stale)


def recover_lost(engine: Any, config: Any,
                 older_than_s: float) -> dict[str, int | list[str]]:
    """The watchdog's work, for whatever drives a night (beat's watchdog task, the
    ``--wait`` loop, the demo): re-send the chunks of running steps that nobody has
    finished or touched for ``older_than_s``, and advance steps whose chunks are all
    done but whose next step was never started (its message was lost)."""
    resend, complete = cycle.stuck_chunks(engine, int(older_than_s), config)
    sent = send(resend)
    for on, step in complete:
        sent += send(cycle.force_advance(engine, on, step, config))
    handoffs = [d.isoformat() for d in cycle.retry_held_handoffs(engine)]
    return {"resent": len(resend), "advanced": len(complete), "sent": sent,
            "handoffs_through": handoffs}


@hooks.task(app, "creditcycle.cycle.release", CreditTask)
def release(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """An operator lets the users held on ``date`` catch up."""
    p = self.validate(payloads.Release, kwargs, args)
    users = cycle.release(runtime.engine(), date.fromisoformat(p.date), runtime.config(),
                          runtime.channel())
    return {"date": p.date, "released": users}


@hooks.task(app, "creditcycle.ledger.prove", CreditTask)
def prove_ledger(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The weekly proof of the whole ledger (SPEC 7); a failure marks the last closed date
    broken, which stops the catch-up there until an operator rechecks it."""
    self.validate(payloads.Empty, kwargs, args)
    marked, problems = cycle.prove_ledger(runtime.engine())
    return {"problems": problems, "marked": marked.isoformat() if marked else None}


@hooks.task(app, "creditcycle.deduct.attempt", CreditTask)
def deduct_attempt(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A daytime deduction attempt (06:00, 17:00): runs once yesterday is closed."""
    p = self.validate(payloads.Attempt, kwargs, args)
    on = _day(p.date, business_today())
    try:
        business_date.require_not_future(on, runtime.config().time_zone, "date")
    except InputError as exc:
        self._reject(exc.field, exc.message)
    return {"date": on.isoformat(), "at": p.at,
            "chunks_sent": send(cycle.begin_attempt(runtime.engine(), on, p.at,
                                                    runtime.config()))}


@hooks.task(app, "creditcycle.reconcile.pending", CreditTask)
def reconcile_pending(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Ask the bank about pending card debits and apply what it answers."""
    self.validate(payloads.Empty, kwargs, args)
    engine, config, channel = runtime.engine(), runtime.config(), runtime.channel()
    with engine.connect() as conn:
        pending = debits.pending_debits(conn, PENDING)
    results = {r.key: r for r in channel.query([x.key for x in pending])}
    with engine.begin() as conn:
        n = steps.resolve_pending(conn, business_today(), pending, results, config)
    return {"pending": len(pending), "resolved": n}


@hooks.task(app, "creditcycle.applications.expire", CreditTask)
def expire_applications(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Cancel the applications that have expired (by the business clock, CREDITCYCLE_NOW
    in a drill, as events.record reads it)."""
    self.validate(payloads.Empty, kwargs, args)
    config = runtime.config()
    with runtime.engine().begin() as conn:
        n = ingest.expire_applications(conn, business_date.now(config.time_zone), config)
    return {"cancelled": n}


# ---------------------------------------------------------------- ad-hoc submissions
def _require_user(task: CreditTask, user: str) -> None:
    """Reject an unknown user before the write transaction opens: on SQLite the rejection
    row cannot be written while this task holds the write lock."""
    with runtime.engine().connect() as conn:
        known = bool(user_rows.load_users(conn, [user]))
    if not known:
        task._reject("user", f"unknown user {user!r}")


@hooks.task(app, "creditcycle.repay", CreditTask)
def repay(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A repayment from outside; ``reference`` is its idempotency key.

    It is dated on the current business date (``date``, if given, may not be in the
    future; ``apply_events`` refuses a closed date). A refused repayment is rolled back
    and rejected naming the field: nothing stored changes but the rejection row."""
    p = self.validate(payloads.Repay, kwargs, args)
    today = business_today()
    on = _day(p.date, today)
    if on > today:
        self._reject("date", f"{on} is in the future; the business date is {today}")
    event = RepayEvent(date=on, user=p.user, amount=p.amount, loan=p.loan,
                       reference=p.reference)
    _require_user(self, p.user)
    with runtime.engine().connect() as conn, conn.begin() as tx:
        refused = apply_events(conn, [(f"repay:{p.reference}", event)])
        if refused:
            tx.rollback()
    if refused:  # rejected only now: on SQLite the write lock is released
        self._reject(str(refused[0]["field"]), str(refused[0]["message"]))
    return {"reference": p.reference, "date": on.isoformat()}


@hooks.task(app, "creditcycle.limit.recalc", CreditTask)
def limit_recalc(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Recalculate one user's limit now (e.g. after a support review)."""
    p = self.validate(payloads.LimitRecalc, kwargs, args)
    on = _day(p.date, business_today())
    _require_user(self, p.user)
    with runtime.engine().begin() as conn:
        user_rows.lock_users(conn, [p.user])
        decisions = steps.recalculate_limits(conn, [p.user], on, runtime.config())
    d = decisions[0]
    return {"user": p.user, "old": d.old, "new": d.new, "reasons": list(d.reasons)}


@hooks.task(app, "creditcycle.agencies.add", CreditTask)
def add_agency(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Add a collection agency (or make a retired one active again); handoff passes held
    for want of an agency then go through."""
    p = self.validate(payloads.Agency, kwargs, args)
    engine = runtime.engine()
    with engine.begin() as conn:
        changed = agencies.add(conn, p.name)
    through = cycle.retry_held_handoffs(engine)
    return {"agency": p.name, "status": "active", "changed": changed,
            "handoffs_through": [d.isoformat() for d in through]}


@hooks.task(app, "creditcycle.agencies.retire", CreditTask)
def retire_agency(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Retire a collection agency: no new handoffs; its open cases stay with it."""
    p = self.validate(payloads.Agency, kwargs, args)
    engine = runtime.engine()
    with engine.connect() as conn:  # read first: see _require_user
        known = agencies.exists(conn, p.name)
    if not known:
        self._reject("name", f"unknown agency {p.name!r}")
    with engine.begin() as conn:
        changed = agencies.retire(conn, p.name, now())
    return {"agency": p.name, "status": "retired", "changed": changed}


# ---------------------------------------------------------------- the way in (SPEC 13)
def _apply_batch(task: CreditTask, work: Any) -> Any:
    """Run ``work(conn)`` in one transaction; an InputError rolls it back and rejects the
    task only then (on SQLite the rejection row needs the write lock released)."""
    failed: InputError | None = None
    with runtime.engine().connect() as conn, conn.begin() as tx:
        try:
            out = work(conn)
        except InputError as exc:
            tx.rollback()
            failed = exc
    if failed is not None:
        task._reject(failed.field, failed.message)
    return out


@hooks.task(app, "creditcycle.events.record", CreditTask)
def record_events(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Record a batch of up to 1,000 events, each idempotent by its ``key``; one bad
    event rejects the batch naming it and nothing changes."""
    p = self.validate(payloads.EventsRecord, kwargs, args)
    config = runtime.config()
    now = business_date.now(config.time_zone)  # the drills' fixed clock, if set
    try:
        batch = intake.parse_records(p.events, now=now, zone=config.time_zone,
                                     late_event_days=config.late_event_days)
    except InputError as exc:
        self._reject(exc.field, exc.message)
    done: ingest_batches.Recorded = _apply_batch(
        self, lambda conn: ingest_batches.record_events(conn, batch, now, config))
    log.info("recorded %s events (%s already), %s refused", done.applied, done.already,
             len(done.refused))
    return done.summary()


@hooks.task(app, "creditcycle.users.upsert", CreditTask)
def upsert_users(self: CreditTask, /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Create or update a batch of up to 1,000 users (score and limit on creation only)."""
    p = self.validate(payloads.UsersUpsert, kwargs, args)
    try:
        users = intake.parse_users(p.users)
    except InputError as exc:
        self._reject(exc.field, exc.message)
    config = runtime.config()
    out: dict[str, Any] = _apply_batch(
        self, lambda conn: ingest_batches.upsert_users(conn, users, business_today(), config))
    return out
