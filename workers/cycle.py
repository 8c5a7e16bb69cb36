"""The close-of-business state machine, kept in the database.

A business date is closed by steps in a fixed order; each step fans out one
message per chunk (a keyset range of user ids). Nothing here talks to the
broker: functions return the chunk messages to send, and the caller sends
them after its transaction commits. Whoever completes a step's last chunk,
or the watchdog, moves the date to the next step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from domain.commands import InputError
from domain.config import ProductConfig
from domain.steps import (
    SINGLE,
    Step,
    StepKey,
    attempt_code,
    close_steps,
    may_attempt,
    next_to_close,
    per_chunk,
    rank,
    replay_order,
)
from store import cycle as cyc
from store import cycle_plan as plans
from store import holds, ledger_checks
from store import report as report_rows
from store.engine import Connection, DBAPIError, Engine, now
from workers import metrics, settings, steps
from workers.bank import BankChannel

MAX_ATTEMPTS = settings.get().max_attempts
log = logging.getLogger("creditcycle.cycle")


@dataclass(frozen=True, slots=True)
class ChunkMessage:
    date: str
    key: StepKey
    chunk_no: int
    lo: str
    hi: str

    def kwargs(self) -> dict[str, Any]:
        """The message's task arguments (``workers.payloads.Chunk``): the step key's
        fields, not a label."""
        return {"date": self.date, "step": self.key.step.value, "at": self.key.at,
                "run": self.key.run, "chunk_no": self.chunk_no, "lo": self.lo, "hi": self.hi}


def run_chunk(engine: Engine, on: date, key: StepKey, chunk_no: int, lo: str, hi: str,
              config: ProductConfig, channel: BankChannel) -> int:
    """Do one chunk of the step a message names."""
    return steps.run(engine, on, key, chunk_no, lo, hi, config, channel)


def unplanned(engine: Engine, on: date, key: StepKey, chunk_no: int, lo: str, hi: str
              ) -> tuple[str, str] | None:
    """Why a chunk message is not a chunk the cycle planned, as (field, reason); None when
    it is: a chunk of a step of ``on`` that was started, with the plan's number and range.
    A planned chunk runs while its step runs; after that only a copy of a chunk already
    done is let through (it changes nothing)."""
    step = key.label
    with engine.connect() as conn:
        row = cyc.step_row(conn, on, key)
        if row is None:
            return "step", f"step {step!r} of {on} was never started"
        if key.step in SINGLE:
            planned: tuple[str, str] | None = ("", "") if chunk_no == 0 else None
        else:
            planned = plans.planned_range(conn, on, chunk_no) if chunk_no < row.total else None
        if planned is None:
            return "chunk_no", (f"step {step!r} of {on} has no chunk {chunk_no} "
                                f"(its chunks are 0..{row.total - 1})")
        if (lo, hi) != planned:
            field = "lo" if lo != planned[0] else "hi"
            return field, (f"chunk {chunk_no} of {on} covers {planned[0]!r}..{planned[1]!r}, "
                           f"not {lo!r}..{hi!r}")
        if row.status != cyc.RUNNING and not cyc.chunk_done(conn, on, key, chunk_no):
            return "step", f"step {step!r} of {on} is {row.status}, not running"
    return None


def _messages(conn: Connection, on: date, key: StepKey,
              config: ProductConfig) -> list[ChunkMessage]:
    if key.step in SINGLE:
        return [ChunkMessage(on.isoformat(), key, 0, "", "")]
    return [ChunkMessage(on.isoformat(), key, n, lo, hi)
            for n, lo, hi in plans.plan_chunks(conn, on, config.chunk_size)]


def _start_step(conn: Connection, on: date, key: StepKey,
                config: ProductConfig) -> list[ChunkMessage]:
    msgs = _messages(conn, on, key, config)
    if not cyc.start_step(conn, on, key, len(msgs)):
        return []
    if not msgs:
        cyc.finish_step(conn, on, key)
        return _after_step(conn, on, key, config)
    return msgs


def begin(engine: Engine, target: date, config: ProductConfig) -> list[ChunkMessage]:
    """Start closing the oldest unclosed date up to ``target``; a no-op while one runs."""
    with engine.begin() as conn:
        if cyc.open_close(conn) is not None or cyc.broken_close(conn) is not None:
            return []  # a broken ledger stops the catch-up until an operator acts
        on = next_to_close(cyc.last_closed(conn), target)
        if on is None or not cyc.start_close(conn, on):
            return []
        cyc.set_target(conn, on, target)
        return _start_step(conn, on, StepKey(close_steps(on)[0]), config)


def _after_step(conn: Connection, on: date, key: StepKey,
                config: ProductConfig) -> list[ChunkMessage]:
    order = [StepKey(x) for x in close_steps(on)]
    if key not in order:
        return []
    _observe_step(conn, on, key)
    i = order.index(key)
    if i + 1 < len(order):
        return _start_step(conn, on, order[i + 1], config)
    held = holds.held_user_ids(conn, on)
    detail_row = cyc.close_row(conn, on)
    target = (detail_row.target if detail_row else None) or on
    problem = detail_row.problem if detail_row is not None else None
    status = cyc.BROKEN if problem else cyc.EXCEPTIONS if held else cyc.DONE
    detail = f"held users: {', '.join(held)}" if held else None
    cyc.count_close(conn, on)
    cyc.finish_close(conn, on, status, detail)
    if metrics.enabled():
        metrics.day_closed(on, status, detail_row.started_at if detail_row else None,
                           report_rows.collected_by_kind(conn, on))
    if problem:
        log.error("%s is not closed: %s", on, problem)
        return []  # the catch-up stops here until an operator acts (recheck)
    if on < target and cyc.broken_close(conn) is None:
        nxt = on + timedelta(days=1)
        if cyc.start_close(conn, nxt):
            cyc.set_target(conn, nxt, target)
            return _start_step(conn, nxt, StepKey(close_steps(nxt)[0]), config)
    return []


def _observe_step(conn: Connection, on: date, key: StepKey) -> None:
    if metrics.enabled():
        row = cyc.step_row(conn, on, key)
        metrics.step_finished(key, row.started_at if row is not None else None)


def chunk_completed(engine: Engine, on: date, key: StepKey,
                    config: ProductConfig) -> list[ChunkMessage]:
    """Count a finished chunk; the one that completes the step starts the next."""
    with engine.begin() as conn:
        done, total = cyc.chunk_finished(conn, on, key)
        if done < total:
            return _held_handoff(conn, on, key, config)
        if not cyc.finish_step(conn, on, key):
            return []
        return _after_step(conn, on, key, config)


def _held_handoff(conn: Connection, on: date, key: StepKey,
                  config: ProductConfig) -> list[ChunkMessage]:
    """A handoff pass with no active agency is held (the cause stays on the step) and the
    night goes on without it; ``retry_held_handoffs`` finishes it once there is one."""
    if key != StepKey(Step.HANDOFF):
        return []
    row = cyc.chunk_row(conn, on, key, 0)
    if row is None or row.phase != steps.HANDOFF_HELD:
        return []
    if not cyc.finish_step(conn, on, key, cyc.HELD, row.last_error):
        return []
    return _after_step(conn, on, key, config)


def retry_held_handoffs(engine: Engine) -> list[date]:
    """Run the held handoff passes again, oldest date first; returns the dates that went
    through (they are done). Stops at the first still held (no active agency yet)."""
    handoff = StepKey(Step.HANDOFF)
    with engine.connect() as conn:
        days = cyc.days_with(conn, handoff, cyc.HELD)
    through = []
    for day in days:
        steps.handoff_pass(engine, day)
        with engine.begin() as conn:
            if not cyc.chunk_done(conn, day, handoff, 0):
                break
            cyc.held_step_done(conn, day, handoff)
        through.append(day)
    return through


def start_attempt(engine: Engine, on: date, key: StepKey, chunk_no: int, *,
                  lease_s: float = 300, redelivered: bool = False) -> int | None:
    """Commit one more attempt of a chunk before any work; None when it is done."""
    with engine.begin() as conn:
        return cyc.count_attempt(conn, on, key, chunk_no, lease_s=lease_s,
                                 redelivered=redelivered)


def forget_attempt(engine: Engine, on: date, key: StepKey, chunk_no: int) -> None:
    """Take back an attempt that failed for the infrastructure (database, broker), not
    for the chunk: an outage must not quarantine healthy chunks. Best effort."""
    try:
        with engine.begin() as conn:
            cyc.forget_attempt(conn, on, key, chunk_no)
    except DBAPIError:
        pass


def end_lease(engine: Engine, on: date, key: StepKey, chunk_no: int) -> None:
    """An attempt failed and is over: its retry is a new attempt. Best effort."""
    try:
        with engine.begin() as conn:
            cyc.end_lease(conn, on, key, chunk_no)
    except DBAPIError:
        pass


def quarantine(engine: Engine, on: date, key: StepKey, chunk_no: int, lo: str, hi: str,
               error: str) -> None:
    """A chunk that keeps failing: hold its users for ``on`` and let the night go on."""
    with engine.begin() as conn:
        if cyc.claim_chunk(conn, on, key, chunk_no) is None:
            return
        if lo and hi:
            holds.hold_users(conn, on, key, chunk_no, lo, hi)
        cyc.record_error(conn, on, key, chunk_no, error)
        cyc.mark_quarantined(conn, on, key, chunk_no)


def stuck_chunks(engine: Engine, older_than_s: int, config: ProductConfig
                 ) -> tuple[list[ChunkMessage], list[tuple[date, StepKey]]]:
    """Chunks of running steps not done and not touched lately; steps done but not advanced."""
    resend: list[ChunkMessage] = []
    complete: list[tuple[date, StepKey]] = []
    cutoff = now() - timedelta(seconds=older_than_s)
    with engine.begin() as conn:
        for row in cyc.running_steps(conn):
            if row.started_at is not None and _aware(row.started_at) > cutoff:
                continue
            key = cyc.key_of(row)
            finished = cyc.finished_chunks(conn, row.day, key, row.total)
            # A chunk some worker started lately is left to it (its lease is live).
            leased = cyc.leased_chunks(conn, row.day, key, cutoff)
            msgs = _messages(conn, row.day, key, config)
            if len(finished) >= len(msgs):
                complete.append((row.day, key))
            else:
                resend.extend(m for m in msgs
                              if m.chunk_no not in finished and m.chunk_no not in leased)
    return resend, complete


def force_advance(engine: Engine, on: date, key: StepKey,
                  config: ProductConfig) -> list[ChunkMessage]:
    """Finish step ``key`` of ``on`` as if its chunks had all counted; the messages of what
    follows."""
    with engine.begin() as conn:
        cyc.count_all(conn, on, key)
        if not cyc.finish_step(conn, on, key):
            return []
        return _after_step(conn, on, key, config)


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
        row = cyc.close_row(conn, on)
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
        held = holds.held_user_ids(conn, on)
        was = f"ledger proven again at {now():%Y-%m-%d %H:%M:%S} after: {row.problem}"
        cyc.proven_again(conn, on, cyc.EXCEPTIONS if held else cyc.DONE,
                         (f"held users: {', '.join(held)}; " if held else "") + was[:3000])
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
        last = cyc.last_closed(conn)
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
        if not may_attempt(on, cyc.last_closed(conn)):
            return []
        key = StepKey(Step.DEDUCT, attempt_code(at))
        msgs = _messages(conn, on, key, config)
        if not cyc.start_step(conn, on, key, len(msgs)):
            return []
        if not msgs:
            cyc.finish_step(conn, on, key)
        return msgs


# ---------------------------------------------------------------- release
def release(engine: Engine, on: date, config: ProductConfig, channel: BankChannel) -> list[str]:
    """Let the users held on ``on`` catch up, date by date, to the last closed date.

    They replay from the step that failed, under bookkeeping keys of their
    own (``step#release``), so the replay is itself safe to run twice.
    """
    with engine.begin() as conn:
        held = holds.held_rows(conn, on)
        if not held:
            return []
        ranges = plans.chunk_ranges(conn, on, sorted({r.chunk_no for r in held}))
        failed = min((cyc.key_of(r) for r in held), key=lambda key: rank(on, key))
        last = cyc.last_closed(conn) or on
        holds.release_users(conn, [r.user_id for r in held], on)
    day = on
    while day <= last:
        daytime = [] if day == on else _daytime_steps(engine, day)
        for key in replay_order(day, failed, on, daytime):
            replay = key.released()
            for chunk_no, lo, hi in ranges if per_chunk(replay) else [(0, "", "")]:
                steps.run(engine, day, replay, chunk_no, lo, hi, config, channel)
        day += timedelta(days=1)
    return sorted(r.user_id for r in held)


def _daytime_steps(engine: Engine, on: date) -> list[StepKey]:
    with engine.connect() as conn:
        return cyc.daytime_keys(conn, on)
