"""The chaos drill's event producer: the platform recording events through Celery
(``creditcycle.events.record``) for random users throughout the harmed night, some
batches sent twice, while workers are killed; then the direct check that nothing was
lost or applied twice.

What it sends: wallet top-ups and fund deposits, activity (payments, transfers, ...),
risk signals, repayments, loan applications and, in a later batch, their audits. Money
and repayments take effect when recorded (dated on the business date of the fixed
clock); activity and signals are dated by ``occurred_at``, which the producer keeps
within ``late_event_days`` and at least three dates past the date the cycle was closing
when the batch was made, or today (docs/DECISIONS.md: a step whose selection reads a
user without its lock, ``limit`` and ``score``, could otherwise see an event or not by
a race no clean run can replay). Held users get events too: their release replays
their steps after every event, and the clean run places those events accordingly.

A batch is accepted once every key of it has an outcome (``applied`` or a rule's
refusal), read as ``creditcycle events record`` reads it through a broker (the app keeps
no task results). One not accepted within ``RESEND_S`` (its message lost with Redis, its
worker killed, PostgreSQL down) is sent again with the same keys, as a platform would;
after the night every batch is sent until accepted.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from drills.seed import user_id
from store import schema as s
from store.events import outcomes
from workers.progress import closed_through

RESEND_S = 45.0
DRAIN_S = 180.0
ACTIVITY = ("payment", "transfer", "red_packet", "life_payment", "wealth_purchase")
SIGNALS = ("multi_borrowing_inquiry", "phone_change", "job_loss", "flagged_contact",
           "external_overdue")


@dataclass
class Batch:
    """One batch as sent, and what became of its sendings."""

    no: int
    events: list[dict[str, Any]]
    twice: bool = False
    sends: int = 0
    accepted: bool = False
    errors: list[str] = field(default_factory=list)
    last_sent: float = 0.0


@dataclass
class EventCheck:
    """The producer's side of the comparison."""

    events: int = 0            # distinct keys accepted
    batches: int = 0
    sent_twice: int = 0        # batches sent twice on purpose
    resent: int = 0            # sendings again after no answer (lost with Redis, a kill)
    lost: int = 0              # keys of accepted batches not recorded, or without effect
    doubled: int = 0           # keys applied more than once (an effect row twice)
    refused_by_rules: int = 0  # recorded, refused by a rule (e.g. an audit out of hours)
    placed: tuple[int, int, int] = (0, 0, 0)  # the clean run's: before a chunk, inside a
    #                                           deduct chunk, after the last date
    problems: list[str] = field(default_factory=list)


class Producer:
    """The platform's producer thread for one chaos run."""

    def __init__(self, engine: Engine, users: int, clock: datetime, zone: str,
                 first: date, rng: random.Random) -> None:
        self.engine, self.clock, self.zone, self.first = engine, clock, ZoneInfo(zone), first
        self.rng = rng
        self.users = [user_id(n) for n in range(users)]
        self.today = clock.astimezone(self.zone).date()
        self.batches: list[Batch] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.applied: list[tuple[str, str]] = []  # (user, loan) applied, audit not yet sent
        self.errors: list[str] = []
        self._n = 0

    def start(self) -> Producer:
        """Start sending (a daemon thread)."""
        self.thread.start()
        return self

    # ------------------------------------------------------------ the events
    def _key(self, kind: str) -> str:
        self._n += 1
        return f"chaos-{kind}-{self._n}"

    def _at(self, on: date) -> str:
        """An instant on business date ``on`` (local noon, or earlier today), never after
        the clock nor older than six days and a half."""
        noon = datetime.combine(on, clock_time(12), self.zone)
        now = self.clock.astimezone(self.zone)
        midnight = datetime.combine(self.today, clock_time(0), self.zone)
        at = noon if noon < now else midnight + (now - midnight) / 2
        return max(at, now - timedelta(days=6, hours=12)).isoformat()

    def _signal_day(self) -> date:
        """A date at least three past the one the cycle is closing (or today)."""
        try:
            done = closed_through(self.engine)
        except Exception:  # PostgreSQL may be down: today is always safe
            return self.today
        running = self.first if done is None else done + timedelta(days=1)
        lowest = max(running + timedelta(days=3), self.today - timedelta(days=6))
        span = (self.today - lowest).days
        return self.today if span < 0 else lowest + timedelta(days=self.rng.randint(0, span))

    def _event(self, user: str) -> dict[str, Any]:
        roll = self.rng.random()
        now = self.clock.astimezone(self.zone)
        if roll < 0.15:
            return {"key": self._key("topup"), "kind": "wallet_topup", "user": user,
                    "amount": self.rng.randint(1, 50) * 1000}
        if roll < 0.25:
            return {"key": self._key("fund"), "kind": "fund_deposit", "user": user,
                    "amount": self.rng.randint(1, 50) * 1000}
        if roll < 0.40:
            return {"key": self._key("repay"), "kind": "repay", "user": user,
                    "amount": self.rng.randint(5, 100) * 1000}
        if roll < 0.65:
            return {"key": self._key("act"), "kind": self.rng.choice(ACTIVITY), "user": user,
                    "occurred_at": self._at(self._signal_day())}
        if roll < 0.85:
            return {"key": self._key("sig"), "kind": self.rng.choice(SIGNALS), "user": user,
                    "occurred_at": self._at(self._signal_day())}
        if roll < 0.93 or not self.applied:
            loan = self._key("app")
            self.applied.append((user, loan))
            return {"key": self._key("apply"), "kind": "apply", "user": user, "loan": loan,
                    "principal": self.rng.randint(1, 30) * 10_000, "annual_rate_bp": 1800,
                    "term_months": self.rng.choice((3, 6, 12)),
                    "occurred_at": (now - timedelta(hours=2)).isoformat()}
        who, loan = self.applied.pop(0)
        return {"key": self._key("audit"), "kind": "audit", "user": who, "loan": loan,
                "outcome": "approved" if self.rng.random() < 0.8 else "rejected",
                "occurred_at": (now - timedelta(hours=1)).isoformat()}

    # ------------------------------------------------------------ sending
    def _send(self, batch: Batch) -> None:
        from workers.celery_app import app

        batch.sends += 1
        batch.last_sent = time.monotonic()
        try:
            app.send_task("creditcycle.events.record", queue="cycle",
                          kwargs={"events": batch.events})
        except Exception as exc:  # Redis down: sent again when due
            batch.errors.append(f"send: {type(exc).__name__}: {exc}")

    def _poll(self) -> None:
        """Mark the batches whose keys all have an outcome accepted; send again those left
        without one for ``RESEND_S``. PostgreSQL down: the next poll."""
        waiting = [b for b in self.batches if not b.accepted]
        if not waiting:
            return
        try:
            with self.engine.connect() as conn:
                found = outcomes(conn, [e["key"] for b in waiting for e in b.events])
        except DBAPIError:
            return
        for b in waiting:
            if all(e["key"] in found for e in b.events):
                b.accepted = True
            elif time.monotonic() - b.last_sent > RESEND_S:
                self._send(b)

    def _run(self) -> None:
        try:
            while not self.stop.wait(self.rng.uniform(0.2, 0.6)):
                users = self.rng.sample(self.users, min(len(self.users),
                                                        self.rng.randint(3, 25)))
                batch = Batch(len(self.batches), [self._event(u) for u in users])
                self.batches.append(batch)
                self._send(batch)
                if self.rng.random() < 0.15:  # the platform's retry: the same batch again
                    batch.twice = True
                    self._send(batch)
                self._poll()
        except Exception as exc:  # reported with the outcome
            self.errors.append(f"producer: {type(exc).__name__}: {exc}")

    def finish(self) -> None:
        """Stop making batches, then send until every batch is accepted (the workers are
        still up and nothing is harmed any more), or ``DRAIN_S`` passed."""
        self.stop.set()
        self.thread.join(timeout=60)
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline and any(not b.accepted for b in self.batches):
            self._poll()
            time.sleep(0.5)

    # ------------------------------------------------------------ the check
    def sent(self) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
        """Every event sent by key, and the batch each key came in."""
        events = {e["key"]: e for b in self.batches for e in b.events}
        return events, {e["key"]: b.no for b in self.batches for e in b.events}

    def check(self) -> EventCheck:
        """Each accepted batch's events recorded once with their effect row once (however
        often the batch was sent), and no batch refused whole."""
        out = EventCheck(batches=len(self.batches),
                         sent_twice=sum(1 for b in self.batches if b.twice),
                         resent=sum(b.sends - 1 - b.twice for b in self.batches))
        out.problems += self.errors
        for b in self.batches:
            if not b.accepted:
                out.problems.append(f"batch {b.no} never accepted ({b.sends} sendings)"
                                    + "".join(f"; {e}" for e in b.errors[-2:]))
        keys = {e["key"]: e for b in self.batches if b.accepted for e in b.events}
        out.events = len(keys)
        ev, j, r = s.events.c, s.journals.c, s.rejections.c
        with self.engine.connect() as conn:
            rows: dict[str, int] = {}
            recorded: dict[str, str] = {}
            for key, outcome, n in conn.execute(select(ev.key, func.max(ev.outcome),
                                                       func.count()).where(
                    ev.key.like("rec:chaos-%")).group_by(ev.key)):
                rows[key] = int(n)
                if outcome is not None:
                    recorded[key.removeprefix("rec:")] = outcome
            money: dict[str, int] = dict(conn.execute(select(j.key, func.count()).where(
                j.key.like("%:rec:chaos-%")).group_by(j.key)).all())
            rejected = conn.execute(select(r.field, r.reason).where(
                r.task == "creditcycle.events.record")).all()
        out.problems += [f"a batch was refused whole: {f}: {why}" for f, why in rejected[:3]]
        for key, e in keys.items():
            outcome, n = recorded.get(key), int(rows.get(f"rec:{key}", 0))
            if outcome is None or n == 0:
                out.lost += 1
                out.problems.append(f"event {key} accepted, not recorded")
                continue
            out.doubled += max(0, n - 1)
            if outcome != "applied":
                out.refused_by_rules += 1
            elif e["kind"] in ("wallet_topup", "fund_deposit"):
                booked = int(money.get(f"{e['kind']}:rec:{key}", 0))
                out.lost += booked == 0
                out.doubled += max(0, booked - 1)
        return out


__all__ = ["Batch", "EventCheck", "Producer"]
