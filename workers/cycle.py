"""The close-of-business state machine, kept in the database.

A business date is closed by steps in a fixed order; each step fans out one
message per chunk (a keyset range of user ids). Nothing here talks to the
broker: functions return the chunk messages to send, and the caller sends
them after its transaction commits. Whoever completes a step's last chunk,
or the watchdog, moves the date to the next step.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from domain.commands import InputError
from domain.config import ProductConfig
from domain.deduction import CLOSE_OF_BUSINESS
from domain.money import is_month_end
from store import cycle as cyc
from store import ledger_checks
from store import report as report_rows
from store import schema as s
from store.engine import now
from workers import metrics, settings, steps
from workers.bank import BankChannel

CLOSE = "close"
HANDOFF = "handoff"
RECONCILE_CLOSE = "reconcile_close"
BUREAU_FILE = "bureau_file"
SINGLE_STEPS = (HANDOFF, RECONCILE_CLOSE, BUREAU_FILE)
MAX_ATTEMPTS = settings.get().max_attempts
log = logging.getLogger("creditcycle.cycle")


def close_steps(on: date) -> list[str]:
    """The steps that close ``on``, in order (the bureau file on a month end)."""
    order = [steps.DEDUCT, steps.OVERDUE_STEP, steps.SCORE, steps.LIMIT, steps.COLLECT,
             HANDOFF, steps.RECONCILE, RECONCILE_CLOSE]
    if is_month_end(on):
        order.append(BUREAU_FILE)
    return order


@dataclass(frozen=True, slots=True)
class ChunkMessage:
    date: str
    step: str
    chunk_no: int
    lo: str
    hi: str

    def kwargs(self) -> dict[str, Any]:
        """The message's task arguments."""
        return asdict(self)


STEP_NAMES = (steps.DEDUCT, steps.OVERDUE_STEP, steps.SCORE, steps.LIMIT, steps.COLLECT,
              steps.RECONCILE, *SINGLE_STEPS)


def known_step(step: str) -> bool:
    """Whether ``step`` names a step of the cycle (``deduct@HHMM`` included)."""
    base = step.partition("#")[0]
    if base.startswith(steps.DEDUCT + "@"):
        at = base.partition("@")[2]
        return len(at) == 4 and at.isdigit()
    return base in STEP_NAMES


def run_chunk(engine: Engine, on: date, step: str, chunk_no: int, lo: str, hi: str,
              config: ProductConfig, channel: BankChannel, *, key: str | None = None) -> int:
    """Do one chunk of one step: the single place that maps step names to functions."""
    if step.startswith(steps.DEDUCT):
        attempt = step.partition("@")[2] or CLOSE_OF_BUSINESS
        return steps.deduct(engine, on, lo, hi, chunk_no, config, channel, attempt, key=key)
    if step == steps.RECONCILE:
        return steps.reconcile_chunk(engine, on, lo, hi, chunk_no, config, channel, key=key)
    if step == HANDOFF:
        return steps.handoff_pass(engine, on, key=key)
    if step == RECONCILE_CLOSE:
        return len(steps.reconcile_close(engine, on, key=key))
    if step == BUREAU_FILE:
        return steps.bureau_month_file(engine, on, key=key)
    fn = {steps.OVERDUE_STEP: steps.overdue_chunk, steps.SCORE: steps.score_chunk,
          steps.LIMIT: steps.limit_chunk, steps.COLLECT: steps.collect_chunk}[step]
    return fn(engine, on, lo, hi, chunk_no, config, key=key)


def unplanned(engine: Engine, on: date, step: str, chunk_no: int, lo: str, hi: str
              ) -> tuple[str, str] | None:
    """Why a chunk message is not a chunk the cycle planned, as (field, reason); None when
    it is: a chunk of a step of ``on`` that was started, with the plan's number and range.
    A planned chunk runs while its step runs; after that only a copy of a chunk already
    done is let through (it changes nothing)."""
    with engine.connect() as conn:
        row = cyc.step_row(conn, on, step)
        if row is None or step == CLOSE:
            return "step", f"step {step!r} of {on} was never started"
        if step in SINGLE_STEPS:
            planned: tuple[str, str] | None = ("", "") if chunk_no == 0 else None
        else:
            planned = cyc.planned_range(conn, on, chunk_no) if chunk_no < row.total else None
        if planned is None:
            return "chunk_no", (f"step {step!r} of {on} has no chunk {chunk_no} "
                                f"(its chunks are 0..{row.total - 1})")
        if (lo, hi) != planned:
            field = "lo" if lo != planned[0] else "hi"
            return field, (f"chunk {chunk_no} of {on} covers {planned[0]!r}..{planned[1]!r}, "
                           f"not {lo!r}..{hi!r}")
        if row.status != cyc.RUNNING and not cyc.chunk_done(conn, on, step, chunk_no):
            return "step", f"step {step!r} of {on} is {row.status}, not running"
    return None


def _messages(conn: Connection, on: date, step: str, config: ProductConfig) -> list[ChunkMessage]:
    if step in SINGLE_STEPS:
        return [ChunkMessage(on.isoformat(), step, 0, "", "")]
    return [ChunkMessage(on.isoformat(), step, n, lo, hi)
            for n, lo, hi in cyc.plan_chunks(conn, on, config.chunk_size)]


def _start_step(conn: Connection, on: date, step: str,
                config: ProductConfig) -> list[ChunkMessage]:
    msgs = _messages(conn, on, step, config)
    if not cyc.start_step(conn, on, step, len(msgs)):
        return []
    if not msgs:
        cyc.finish_step(conn, on, step)
        return _after_step(conn, on, step, config)
    return msgs


def last_closed(conn: Connection) -> date | None:
    """The last date closed (done or with exceptions), or None."""
    c = s.cycle_runs.c
    return conn.execute(select(func.max(c.day)).where(
        c.step == CLOSE, c.status.in_((cyc.DONE, cyc.EXCEPTIONS)))).scalar()


def open_close(conn: Connection) -> date | None:
    """The earliest date whose close is still running, or None."""
    c = s.cycle_runs.c
    return conn.execute(select(func.min(c.day)).where(
        c.step == CLOSE, c.status == cyc.RUNNING)).scalar()


def begin(engine: Engine, target: date, config: ProductConfig) -> list[ChunkMessage]:
    """Start closing the oldest unclosed date up to ``target``; a no-op while one runs."""
    with engine.begin() as conn:
        if open_close(conn) is not None or cyc.broken_close(conn) is not None:
            return []  # a broken ledger stops the catch-up until an operator acts
        last = last_closed(conn)
        on = target if last is None else last + timedelta(days=1)
        if on > target:
            return []
        if not cyc.start_step(conn, on, CLOSE, 1):
            return []
        c = s.cycle_runs.c
        conn.execute(update(s.cycle_runs).where(c.day == on, c.step == CLOSE)
                     .values(target=target))
        return _start_step(conn, on, close_steps(on)[0], config)


def _after_step(conn: Connection, on: date, step: str,
                config: ProductConfig) -> list[ChunkMessage]:
    order = close_steps(on)
    if step not in order:
        return []
    _observe_step(conn, on, step)
    i = order.index(step)
    if i + 1 < len(order):
        return _start_step(conn, on, order[i + 1], config)
    held = cyc.held_user_ids(conn, on)
    detail_row = cyc.step_row(conn, on, CLOSE)
    target = (detail_row.target or _target(detail_row.detail) if detail_row else None) or on
    problem = detail_row.problem if detail_row is not None else None
    status = cyc.BROKEN if problem else cyc.EXCEPTIONS if held else cyc.DONE
    detail = f"held users: {', '.join(held)}" if held else None
    c = s.cycle_runs.c
    conn.execute(update(s.cycle_runs).where(c.day == on, c.step == CLOSE).values(done=1))
    cyc.finish_step(conn, on, CLOSE, status, detail)
    if metrics.enabled():
        metrics.day_closed(on, status, detail_row.started_at if detail_row else None,
                           report_rows.collected_by_kind(conn, on))
    if problem:
        log.error("%s is not closed: %s", on, problem)
        return []  # the catch-up stops here until an operator acts (recheck)
    if on < target and cyc.broken_close(conn) is None:
        nxt = on + timedelta(days=1)
        if cyc.start_step(conn, nxt, CLOSE, 1):
            c = s.cycle_runs.c
            conn.execute(update(s.cycle_runs).where(c.day == nxt, c.step == CLOSE)
                         .values(target=target))
            return _start_step(conn, nxt, close_steps(nxt)[0], config)
    return []


def _observe_step(conn: Connection, on: date, step: str) -> None:
    if metrics.enabled():
        row = cyc.step_row(conn, on, step)
        metrics.step_finished(step, row.started_at if row is not None else None)


def _target(detail: str | None) -> date | None:
    """The target a close row written before migration 0004 kept in its detail."""
    if detail and detail.startswith("target="):
        return date.fromisoformat(detail[7:17])
    return None


def chunk_completed(engine: Engine, on: date, step: str,
                    config: ProductConfig) -> list[ChunkMessage]:
    """Count a finished chunk; the one that completes the step starts the next."""
    with engine.begin() as conn:
        done, total = cyc.chunk_finished(conn, on, step)
        if done < total:
            return _held_handoff(conn, on, step, config)
        if not cyc.finish_step(conn, on, step):
            return []
        return _after_step(conn, on, step, config)


def _held_handoff(conn: Connection, on: date, step: str,
                  config: ProductConfig) -> list[ChunkMessage]:
    """A handoff pass with no active agency is held (the cause stays on the step) and the
    night goes on without it; ``retry_held_handoffs`` finishes it once there is one."""
    if step != HANDOFF:
        return []
    k = s.chunk_runs.c
    row = conn.execute(select(k.phase, k.last_error).where(
        k.day == on, k.step == step, k.chunk_no == 0)).first()
    if row is None or row.phase != steps.HANDOFF_HELD:
        return []
    if not cyc.finish_step(conn, on, step, cyc.HELD, row.last_error):
        return []
    return _after_step(conn, on, step, config)


def retry_held_handoffs(engine: Engine) -> list[date]:
    """Run the held handoff passes again, oldest date first; returns the dates that went
    through (they are done). Stops at the first still held (no active agency yet)."""
    c = s.cycle_runs.c
    with engine.connect() as conn:
        days = list(conn.execute(select(c.day).where(
            c.step == HANDOFF, c.status == cyc.HELD).order_by(c.day)).scalars())
    through = []
    for day in days:
        steps.handoff_pass(engine, day)
        with engine.begin() as conn:
            if not cyc.chunk_done(conn, day, HANDOFF, 0):
                break
            conn.execute(update(s.cycle_runs).where(
                c.day == day, c.step == HANDOFF, c.status == cyc.HELD)
                .values(status=cyc.DONE, detail=None))
        through.append(day)
    return through


def start_attempt(engine: Engine, on: date, step: str, chunk_no: int, *,
                  lease_s: float = 300, redelivered: bool = False) -> int | None:
    """Commit one more attempt of a chunk before any work; None when it is done."""
    with engine.begin() as conn:
        return cyc.count_attempt(conn, on, step, chunk_no, lease_s=lease_s,
                                 redelivered=redelivered)


def forget_attempt(engine: Engine, on: date, step: str, chunk_no: int) -> None:
    """Take back an attempt that failed for the infrastructure (database, broker), not
    for the chunk: an outage must not quarantine healthy chunks. Best effort."""
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.begin() as conn:
            c = s.chunk_runs.c
            conn.execute(update(s.chunk_runs).where(
                c.day == on, c.step == step, c.chunk_no == chunk_no, c.attempts > 0)
                .values(attempts=c.attempts - 1, leased_at=None))
    except DBAPIError:
        pass


def end_lease(engine: Engine, on: date, step: str, chunk_no: int) -> None:
    """An attempt failed and is over: its retry is a new attempt. Best effort."""
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.begin() as conn:
            c = s.chunk_runs.c
            conn.execute(update(s.chunk_runs).where(
                c.day == on, c.step == step, c.chunk_no == chunk_no).values(leased_at=None))
    except DBAPIError:
        pass


def quarantine(engine: Engine, on: date, step: str, chunk_no: int, lo: str, hi: str,
               error: str) -> None:
    """A chunk that keeps failing: hold its users for ``on`` and let the night go on."""
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, step, chunk_no) is None:
            return
        if lo and hi:
            cyc.hold_users(conn, on, step, chunk_no, lo, hi)
        cyc.record_error(conn, on, step, chunk_no, error)
        c = s.chunk_runs.c
        conn.execute(update(s.chunk_runs).where(c.day == on, c.step == step,
                                                c.chunk_no == chunk_no)
                     .values(done_at=now(), phase="quarantined", rows=0))


def stuck_chunks(engine: Engine, older_than_s: int, config: ProductConfig
                 ) -> tuple[list[ChunkMessage], list[tuple[date, str]]]:
    """Chunks of running steps not done and not touched lately; steps done but not advanced."""
    resend: list[ChunkMessage] = []
    complete: list[tuple[date, str]] = []
    cutoff = now() - timedelta(seconds=older_than_s)
    with engine.begin() as conn:
        r = s.cycle_runs.c
        running = conn.execute(select(s.cycle_runs).where(
            r.status == cyc.RUNNING, r.step != CLOSE)).all()
        for row in running:
            if row.started_at is not None and _aware(row.started_at) > cutoff:
                continue
            k = s.chunk_runs.c
            finished = set(conn.execute(select(k.chunk_no).where(
                k.day == row.day, k.step == row.step, k.done_at.is_not(None),
                k.chunk_no < row.total)).scalars())
            # A chunk some worker started lately is left to it (its lease is live).
            leased = set(conn.execute(select(k.chunk_no).where(
                k.day == row.day, k.step == row.step, k.done_at.is_(None),
                k.leased_at > cutoff)).scalars())
            msgs = _messages(conn, row.day, row.step, config)
            if len(finished) >= len(msgs):
                complete.append((row.day, row.step))
            else:
                resend.extend(m for m in msgs
                              if m.chunk_no not in finished and m.chunk_no not in leased)
    return resend, complete


def force_advance(engine: Engine, on: date, step: str,
                  config: ProductConfig) -> list[ChunkMessage]:
    """Finish ``step`` of ``on`` as if its chunks had all counted; the messages of what follows."""
    with engine.begin() as conn:
        c = s.cycle_runs.c
        conn.execute(update(s.cycle_runs).where(c.day == on, c.step == step)
                     .values(done=c.total))
        if not cyc.finish_step(conn, on, step):
            return []
        return _after_step(conn, on, step, config)


def _aware(value: Any) -> Any:
    return value if value.tzinfo is not None else value.astimezone()


# ---------------------------------------------------------------- a broken ledger
class LedgerBroken(Exception):
    """A close whose ledger proof failed; the catch-up waits for an operator."""

    def __init__(self, row: Any) -> None:
        self.day: date = row.day
        super().__init__(describe_broken(row))


def describe_broken(row: Any) -> str:
    """What to tell about a date whose ledger proof failed, and how to go on."""
    return (f"{row.day} is not closed: {row.problem}. Fix the data, then run "
            f"`creditcycle cycle recheck --date {row.day}`; the catch-up stops there until "
            "then")


def broken(engine: Engine) -> Any | None:
    """The oldest close whose ledger proof failed (the catch-up stops there), or None."""
    with engine.connect() as conn:
        return cyc.broken_close(conn)


def recheck(engine: Engine, on: date) -> list[str]:
    """An operator fixed what the proof of ``on`` found: prove it again (the day's proof,
    and the whole ledger when that is what failed). When it holds, ``on`` is closed
    and the next ``cycle run`` goes on with the catch-up; else it stays broken."""
    with engine.connect() as conn:
        row = cyc.step_row(conn, on, CLOSE)
    if row is None or row.status != cyc.BROKEN:
        status = "never started" if row is None else row.status
        raise InputError("date", f"the close of {on} is {status}, not {cyc.BROKEN}")
    whole = (row.problem or "").startswith(ledger_checks.WHOLE_PROOF)
    with ledger_checks.consistent_view(engine) as conn:
        problems = ledger_checks.check_day(conn, on)
        if whole:
            problems += ledger_checks.check_all(conn)
    scope = ledger_checks.WHOLE_PROOF if whole else ledger_checks.DAY_PROOF
    with engine.begin() as conn:
        if problems:
            cyc.record_problem(conn, on, f"{scope} of {on}, proven again at "
                                         f"{now():%Y-%m-%d %H:%M:%S}: " + "; ".join(problems))
            return problems
        held = cyc.held_user_ids(conn, on)
        was = f"ledger proven again at {now():%Y-%m-%d %H:%M:%S} after: {row.problem}"
        c = s.cycle_runs.c
        conn.execute(update(s.cycle_runs).where(c.day == on, c.step == CLOSE,
                                                c.status == cyc.BROKEN).values(
            status=cyc.EXCEPTIONS if held else cyc.DONE, problem=None,
            detail=(f"held users: {', '.join(held)}; " if held else "") + was[:3000]))
    return []


def prove_ledger(engine: Engine) -> tuple[date | None, list[str]]:
    """The weekly proof of the whole ledger; a failure marks the last closed date broken
    (so the catch-up stops there) and returns it with the problems."""
    with ledger_checks.consistent_view(engine) as conn:
        problems = ledger_checks.check_all(conn)
    if not problems:
        return None, []
    metrics.ledger_proof_failed("ledger")
    with engine.begin() as conn:
        last = last_closed(conn)
        if last is not None:
            cyc.record_problem(conn, last, f"{ledger_checks.WHOLE_PROOF} of {last}: "
                                           + "; ".join(problems))
    log.error("the whole-ledger proof failed (marked on %s): %s", last, "; ".join(problems))
    return last, problems


# ---------------------------------------------------------------- daytime attempts
def begin_attempt(engine: Engine, on: date, at: str,
                  config: ProductConfig) -> list[ChunkMessage]:
    """A daytime deduction attempt of ``on``; it runs only once ``on - 1`` is closed."""
    with engine.begin() as conn:
        last = last_closed(conn)
        if last is None or last < on - timedelta(days=1):
            return []
        step = steps.deduct_step(at.replace(":", ""))
        msgs = _messages(conn, on, step, config)
        if not cyc.start_step(conn, on, step, len(msgs)):
            return []
        if not msgs:
            cyc.finish_step(conn, on, step)
        return msgs


# ---------------------------------------------------------------- release
def release(engine: Engine, on: date, config: ProductConfig, channel: BankChannel) -> list[str]:
    """Let the users held on ``on`` catch up, date by date, to the last closed date.

    They replay from the step that failed, under bookkeeping keys of their
    own (``step#release``), so the replay is itself safe to run twice.
    """
    h, k = s.held_users.c, s.cycle_chunks.c
    with engine.begin() as conn:
        held = conn.execute(select(s.held_users).where(h.day == on, h.released_at.is_(None))
                            ).all()
        if not held:
            return []
        chunk_nos = sorted({r.chunk_no for r in held})
        ranges = [(r.chunk_no, r.lo, r.hi) for r in conn.execute(
            select(s.cycle_chunks).where(k.day == on, k.chunk_no.in_(chunk_nos)))]
        failed_step = min((r.step for r in held), key=_step_rank(on))
        last = last_closed(conn) or on
        conn.execute(update(s.held_users).where(
            h.user_id.in_([r.user_id for r in held]), h.day >= on, h.released_at.is_(None))
            .values(released_at=now()))
    day = on
    while day <= last:
        order = close_steps(day)
        if day == on:
            order = order[order.index(failed_step):] if failed_step in order else order
        else:
            order = [*_daytime_steps(engine, day), *order]
        for step in order:
            key = f"{step}#release"
            if step == HANDOFF:
                steps.handoff_pass(engine, day, key=key)
            elif step == RECONCILE_CLOSE:
                steps.reconcile_close(engine, day, key=key)
            elif step == BUREAU_FILE:
                for chunk_no, lo, hi in ranges:
                    steps.bureau_month_correction(engine, day, lo, hi, chunk_no, key=key)
            else:
                for chunk_no, lo, hi in ranges:
                    run_chunk(engine, day, step, chunk_no, lo, hi, config, channel, key=key)
        day += timedelta(days=1)
    return sorted(r.user_id for r in held)


def _step_rank(on: date) -> Any:
    order = close_steps(on)
    return lambda step: order.index(step) if step in order else -1


def _daytime_steps(engine: Engine, on: date) -> list[str]:
    c = s.cycle_runs.c
    with engine.connect() as conn:
        return sorted(conn.execute(select(c.step).where(
            c.day == on, c.step.like(steps.DEDUCT + "@%"))).scalars())
