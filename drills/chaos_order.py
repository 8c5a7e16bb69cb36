"""The order of events and chunks in the chaos drill's harmed run, and its replay in the
clean run (docs/DECISIONS.md, "Events during the harmed night").

An ``events.record`` batch and a chunk take the same user row locks, so for one user
their order is the lock order. The drill observes it with triggers it installs in its
harmed database only (:func:`install_stamps`): one sequence stamps each recorded key
(its ``events`` row's insert) and each chunk's start (its attempt counted), the deduct
step's first transaction (phase ``intents``) and its completion (``done_at`` set),
each while the writer holds its locks. :func:`plan` then places every event of a user
right before the first step of that user's chunk that came after it, or between the
deduct step's two transactions when it landed there; :class:`CleanEvents` applies it
at that place in the clean run (``workers.local.close_date``'s ``before_chunk``, and the
bank call between the deduct's two transactions).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text

from domain import intake
from domain.bank import BankChannel, DebitRequest, DebitResult
from domain.config import ProductConfig
from domain.steps import CHUNKED, RELEASE_RUN, Step, StepKey, per_chunk, rank

if TYPE_CHECKING:
    from workers.cycle import ChunkMessage

# Steps that read what an event changes without taking its user's lock (the day's money
# settled and proven, the bureau file): ordered by their start, not their completion.
UNLOCKED: frozenset[str] = frozenset({Step.RECONCILE_CLOSE.value, Step.BUREAU_FILE.value})
DEDUCT = StepKey(Step.DEDUCT).label
# Kinds the deduct step's second transaction (card answers, then the fund) does not read:
# applied after it, such an event that landed between the two is where it was.
AFTER_TX1_SAFE: frozenset[str] = frozenset({"wallet_topup", "card_deposit", "apply",
                                            "audit", *intake.SIGNAL_KINDS})

STAMPS_DDL = (
    "CREATE TABLE IF NOT EXISTS drill_order (seq BIGSERIAL PRIMARY KEY, what TEXT NOT NULL,"
    " day DATE, step TEXT, at TEXT, run TEXT, chunk_no INTEGER, key TEXT, user_id TEXT,"
    " tx BIGINT)",
    """CREATE OR REPLACE FUNCTION drill_stamp_key() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO drill_order (what, key, user_id, tx)
        VALUES ('event', substr(NEW.key, 5), NEW.user_id, txid_current());
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION drill_stamp_chunk() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.attempts > OLD.attempts THEN
            INSERT INTO drill_order (what, day, step, at, run, chunk_no)
            VALUES ('start', NEW.day, NEW.step, NEW.at, NEW.run, NEW.chunk_no);
        END IF;
        IF NEW.phase = 'intents' AND (TG_OP = 'INSERT' OR OLD.phase IS DISTINCT FROM 'intents')
        THEN
            INSERT INTO drill_order (what, day, step, at, run, chunk_no)
            VALUES ('intents', NEW.day, NEW.step, NEW.at, NEW.run, NEW.chunk_no);
        END IF;
        IF NEW.done_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.done_at IS NULL) THEN
            INSERT INTO drill_order (what, day, step, at, run, chunk_no)
            VALUES ('done', NEW.day, NEW.step, NEW.at, NEW.run, NEW.chunk_no);
        END IF;
        RETURN NULL;
    END $$""",
    # The harmed run's first answer to each card debit, as the worker booked it: the bank's
    # own ledger cannot tell a debit it applied after the client gave up without a fault
    # (a slow machine) from one answered in time.
    """CREATE OR REPLACE FUNCTION drill_stamp_debit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.status = 'intent' AND NEW.status <> 'intent' THEN
            INSERT INTO drill_order (what, key, user_id, step)
            VALUES ('answer', NEW.key, NEW.user_id, NEW.status);
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER drill_stamp_debit AFTER UPDATE ON bank_debits FOR EACH ROW "
    "EXECUTE FUNCTION drill_stamp_debit()",
    # An event events.record accepted: its row has a digest, its key is 'rec:' || key.
    "CREATE TRIGGER drill_stamp_key AFTER INSERT ON events FOR EACH ROW "
    "WHEN (NEW.digest IS NOT NULL) EXECUTE FUNCTION drill_stamp_key()",
    "CREATE TRIGGER drill_stamp_chunk AFTER INSERT OR UPDATE ON chunk_runs FOR EACH ROW "
    "EXECUTE FUNCTION drill_stamp_chunk()",
)


def install_stamps(engine: Engine) -> None:
    """Install the drill's order stamps in the harmed database (PostgreSQL). The table is
    none of the schema's, so the snapshot the runs are compared by never reads it."""
    with engine.begin() as conn:
        for statement in STAMPS_DDL:
            conn.execute(text(statement))


@dataclass(frozen=True, slots=True)
class ChunkStamps:
    """One chunk of one step of one date in the harmed run, and when it happened."""

    day: date
    step: str
    chunk_no: int
    lo: str  # "" .. "" for a single step: every user
    hi: str
    start: int | None
    intents: int | None
    done: int | None
    release: bool = False  # a release's replay of this step (``step`` is the night's)
    rank: int = 0          # the step's place in its date (domain.steps.rank)
    at: str = ""           # a daytime deduction attempt's HHMM ("" for the close)

    @property
    def label(self) -> str:
        """The night's step as people read it (``deduct``, ``deduct@0600``)."""
        return StepKey.of(self.step, self.at).label

    def covers(self, user: str, held: tuple[date, int] | None = None) -> bool:
        """Whether the chunk is the user's (a single step is everyone's). A user held from
        ``held`` (date, rank) has the night's chunks before it, then the release's."""
        if held is None and self.release:
            return False
        if held is not None and not self.release and (self.day, self.rank) >= held:
            return False
        return self.lo == self.hi == "" or self.lo <= user <= self.hi

    def order(self) -> int | None:
        """The stamp an event is ordered against (see :data:`UNLOCKED`; a release runs
        after every event, so its completion will do)."""
        if self.release:
            return self.done
        return self.start if self.step in UNLOCKED else self.done


Where = tuple[date, str, int]  # (day, step label, chunk_no)


@dataclass
class Plan:
    """Where each recorded key goes in the clean run: ``before`` a chunk, ``between`` a
    deduct chunk's two transactions, or ``after`` the last date."""

    before: dict[Where, list[str]] = field(default_factory=dict)
    between: dict[Where, list[str]] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)

    def count(self) -> int:
        """How many keys the plan places."""
        return sum(self.counts())

    def counts(self) -> tuple[int, int, int]:
        """How many keys go before a chunk, between a deduct's transactions, after."""
        return (sum(map(len, self.before.values())), sum(map(len, self.between.values())),
                len(self.after))


def place(events: Iterable[tuple[int, str, str]], chunks: Sequence[ChunkStamps],
          held: dict[str, tuple[date, int]] | None = None) -> Plan:
    """Place each event ``(stamp, key, user)``: before the first chunk of its user whose
    order stamp is later, or between a deduct chunk's transactions when its first one
    came before the event and its second after. Keys keep the order they are given in
    among equal stamps. Chunks not completed (a step that never ran to its end) order
    nothing. A user in ``held`` (held from that date and step rank) has the release's
    chunks from there on, placed at the night's chunk they replay."""
    held = held or {}
    timed = sorted((c.order() or 0, i) for i, c in enumerate(chunks) if c.order() is not None)
    stamps = [t for t, _ in timed]
    plan = Plan()
    for stamp, key, user in sorted(events, key=lambda e: e[0]):
        hold = held.get(user)
        chunk = next((chunks[i] for _, i in timed[bisect.bisect_right(stamps, stamp):]
                      if chunks[i].covers(user, hold)), None)
        if chunk is None:
            plan.after.append(key)
            continue
        single = chunk.lo == chunk.hi == "" or chunk.step not in CHUNKED
        where = (chunk.day, chunk.label, 0 if single else chunk.chunk_no)
        inside = (chunk.label == DEDUCT and chunk.intents is not None
                  and chunk.intents < stamp)
        (plan.between if inside else plan.before).setdefault(where, []).append(key)
    return plan


def read_plan(engine: Engine) -> tuple[Plan, int]:
    """The plan of the harmed run's recorded keys, and how many keys it holds. The users
    held at night (``held_users``) are placed by their release's chunks from the step that
    held them on."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT what, day, step, at, run, chunk_no, key, user_id, tx, seq FROM drill_order "
            "WHERE what <> 'answer' ORDER BY seq")).all()
        ranges = {(r.day, r.chunk_no): (r.lo, r.hi) for r in conn.execute(
            text("SELECT day, chunk_no, lo, hi FROM cycle_chunks"))}
        holds = conn.execute(text("SELECT user_id, day, step, at, run FROM held_users")).all()
    held: dict[str, tuple[date, int]] = {}
    for user, day, step, attempt, run in holds:  # the first hold of each user
        at = (day, rank(day, StepKey.of(step, attempt, run)))
        held[user] = min(at, held.get(user, at))
    events: list[tuple[int, str, str]] = []
    first_of: dict[tuple[int, str], int] = {}  # a user's events of one batch go together
    stamps: dict[tuple[date, StepKey, int], dict[str, int]] = {}
    for r in rows:
        if r.what == "event":
            stamp = first_of.setdefault((int(r.tx), str(r.user_id)), int(r.seq))
            events.append((stamp, str(r.key), str(r.user_id)))
        else:  # the first intents and done; the last start before done (its attempt's)
            got = stamps.setdefault((r.day, StepKey.of(r.step, r.at, r.run), r.chunk_no), {})
            if r.what == "start" and "done" not in got:
                got["start"] = int(r.seq)
            else:
                got.setdefault(r.what, int(r.seq))
    chunks = []
    for (day, key, chunk_no), got in stamps.items():
        night = StepKey(key.step, key.attempt)
        lo, hi = ("", "") if not per_chunk(key) else ranges.get((day, chunk_no), ("", ""))
        chunks.append(ChunkStamps(day, night.step, chunk_no, lo, hi, got.get("start"),
                                  got.get("intents"), got.get("done"),
                                  release=key.run == RELEASE_RUN, rank=rank(day, night),
                                  at=night.at))
    return place(events, chunks, held), len(events)


def first_answers(engine: Engine) -> dict[str, str]:
    """The status the harmed run first booked for each card debit key (``pending`` when
    its call met a timeout, an error or a late answer)."""
    with engine.connect() as conn:
        return {r.key: r.step for r in conn.execute(text(
            "SELECT DISTINCT ON (key) key, step FROM drill_order WHERE what = 'answer' "
            "ORDER BY key, seq"))}


class CleanEvents:
    """The clean run's side: the harmed run's events applied where :func:`plan` put them,
    through the same ``events.record`` code (``workers.ingest_batches``)."""

    def __init__(self, engine: Engine, plan: Plan, sent: dict[str, dict[str, Any]],
                 batch_of: dict[str, int], now: datetime, config: ProductConfig) -> None:
        self.engine, self.plan, self.sent, self.batch_of = engine, plan, sent, batch_of
        self.now, self.config = now, config
        self.current: Where | None = None
        self.applied = 0
        self.misplaced: list[str] = []

    def apply(self, keys: Sequence[str]) -> None:
        """Record ``keys`` (in order) as their batches did: one call per run of keys of one
        harmed batch."""
        from workers import ingest_batches

        runs: list[list[str]] = []
        for key in keys:
            if runs and self.batch_of[runs[-1][-1]] == self.batch_of[key]:
                runs[-1].append(key)
            else:
                runs.append([key])
        for run in runs:
            records = intake.parse_records([self.sent[k] for k in run], now=self.now,
                                           zone=self.config.time_zone,
                                           late_event_days=self.config.late_event_days)
            with self.engine.begin() as conn:
                ingest_batches.record_events(conn, records, self.now, self.config)
            self.applied += len(run)

    def _leave(self) -> None:
        """Leaving a chunk: what should have gone between its transactions and did not
        (no bank call came) goes now; unless its kind makes that the same, it is counted."""
        if self.current is None:
            return
        left = self.plan.between.pop(self.current, [])
        self.misplaced += [k for k in left if self.sent[k]["kind"] not in AFTER_TX1_SAFE]
        self.apply(left)
        self.current = None

    def before_chunk(self, m: ChunkMessage) -> None:
        """``close_date``'s hook: the events placed before this chunk."""
        self._leave()
        where = (date.fromisoformat(m.date), m.key.label, m.chunk_no)
        self.apply(self.plan.before.pop(where, []))
        self.current = where

    def between(self) -> None:
        """The deduct chunk's bank call (after its first transaction, before its second)."""
        if self.current is not None and self.current[1] == DEDUCT:
            self.apply(self.plan.between.pop(self.current, []))

    def finish(self) -> list[str]:
        """After the last date: the events recorded after every step; the problems (events
        placed at a chunk the clean run never ran, events that could not go between)."""
        self._leave()
        self.apply(self.plan.after)
        problems = [f"{len(keys)} events placed before {w[1]} chunk {w[2]} of {w[0]}, "
                    "which the clean run never ran" for w, keys in self.plan.before.items()
                    if keys]
        problems += [f"{len(keys)} events placed inside deduct chunk {w[2]} of {w[0]}, "
                     "which the clean run never ran" for w, keys in self.plan.between.items()
                     if keys]
        if self.misplaced:
            problems.append(f"{len(self.misplaced)} events landed between a deduct chunk's "
                            "transactions that made no bank call in the clean run: "
                            + ", ".join(self.misplaced[:3]))
        return problems


class BetweenBank:
    """The clean run's bank: the replay, told when a deduct chunk calls it."""

    def __init__(self, bank: BankChannel, events: CleanEvents) -> None:
        self.bank, self.events = bank, events

    def debit(self, requests: Sequence[DebitRequest]) -> list[DebitResult]:
        """The replay's answers (a debit follows a query in the same call: see query)."""
        self.events.between()
        return self.bank.debit(requests)

    def query(self, keys: Sequence[str]) -> list[DebitResult]:
        """The replay's answers, once the events between the transactions are applied."""
        self.events.between()
        return self.bank.query(keys)


__all__ = ["BetweenBank", "ChunkStamps", "CleanEvents", "Plan", "first_answers",
           "install_stamps", "place", "read_plan"]
