"""The way-out part of ``make chaos``: relays delivering to a sink that misbehaves,
killed at random and right after the sink answered; then the check of what arrived.

The sink is the reference receiver (adapters/sink_receiver.py) as its own process:
down for a stretch at the start, then slower than the relays' read timeout for a
while (it stores the batch, the relay gives up and sends it again: a copy). Relays
run as ``creditcycle outbox deliver`` child processes one after another for the whole
harmed night; some are killed by SIGKILL at a random moment, some by the fault hook
right after the sink acknowledged a batch (``relay:<relay>:acked``). After the night,
relays run clean until every due batch is delivered.

The check reads the receiver's files (what the outside world got) against the
database: every reminder delivered once or expired and none handed over outside its
window, every agency record delivered at least once, and no row ever received under two
keys (a killed relay that re-sent under a new key).
"""

from __future__ import annotations

import atexit
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from adapters.sink_receiver import ReceiverAdmin, ReceiverProcess
from domain.outbox import RELAYS
from store import outboxes
from workers.relays.sinks import ENV, SECRET_ENV

SECRET = secrets.token_hex(16)  # the drill's own receiver, new each run
DOWN_S = 10.0  # the sink is down this long at the start
SLOW_MS, SLOW_S = 11_000, 25.0  # then slower than the 10 s read timeout for a while
DRAIN_S = 180.0


@dataclass
class RelayHarm:
    """Relay children run and harmed, and what they said."""

    runs: int = 0
    killed: int = 0
    killed_after_ack: int = 0
    sink_failures: int = 0
    batches: int = 0
    log: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class RelayCheck:
    sink_failures: int
    delivered_twice_new_key: int
    sent_outside_window: int
    problems: list[str]
    runs: int = 0
    killed: int = 0


class Relays:
    """The receiver and the thread of relay children for one chaos run."""

    def __init__(self, workdir: Path, database_url: str, clock: datetime,
                 rng: random.Random, env: dict[str, str]) -> None:
        self.root = workdir / "sink"
        self.url, self.clock, self.rng = database_url, clock, rng
        self.receiver = ReceiverProcess(str(self.root), SECRET,
                                        log_path=str(workdir / "sink.log"))
        self.harm = RelayHarm()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.base_env = env
        self.env: dict[str, str] = {}
        self.closed = False

    def start(self) -> Relays:
        """Start the receiver (stopped at exit, whatever happens) and the relay thread."""
        self.receiver.start()
        atexit.register(self.close)
        self.env = {**os.environ, **self.base_env, "DATABASE_URL": self.url,
                    SECRET_ENV: SECRET, "CREDITCYCLE_LOG_FORMAT": "text",
                    "CREDITCYCLE_FAULT": "",
                    **{ENV[r]: f"{self.receiver.url}/{r}" for r in RELAYS}}
        self.thread.start()
        return self

    def _child(self, fault: str = "") -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "cli.main", "outbox", "deliver"],
                                env={**self.env, "CREDITCYCLE_FAULT": fault},
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def _finish(self, proc: subprocess.Popen[str], kill_after: float | None) -> int:
        """Wait for a child (SIGKILL it after ``kill_after`` s); the batches it did."""
        try:
            out, _ = proc.communicate(timeout=kill_after if kill_after else 300)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate()
        self.harm.runs += 1
        if proc.returncode in (-signal.SIGKILL, 137):
            self.harm.killed += 1
        done = 0
        for line in (out or "").splitlines():
            try:
                got: dict[str, Any] = json.loads(line)
            except ValueError:
                continue
            self.harm.sink_failures += int(got.get("failures", 0))
            done += int(got.get("batches", 0))
        self.harm.batches += done
        return done

    def _run(self) -> None:
        admin = ReceiverAdmin(self.receiver.url, SECRET)
        down_at: float | None = None  # once the first batches went: down, then slow
        slowed = False
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if down_at is None and self.harm.batches:
                    admin.set_mode(down_for=DOWN_S)
                    down_at = now
                    self.harm.log.append(f"sink down for {DOWN_S:.0f}s")
                elif down_at is not None and not slowed and now - down_at > DOWN_S:
                    admin.set_mode(slow_ms=SLOW_MS, slow_for=SLOW_S)
                    slowed = True
                    self.harm.log.append(f"sink slow ({SLOW_MS} ms) for {SLOW_S:.0f}s")
                roll = self.rng.random()
                if roll < 0.3:
                    self.harm.killed_after_ack += 1
                    self._finish(self._child(",".join(f"relay:{r}:acked" for r in RELAYS)),
                                 None)
                elif roll < 0.5:
                    self._finish(self._child(), self.rng.uniform(0.3, 3.0))
                else:
                    self._finish(self._child(), None)
                self.stop.wait(0.5)
        except Exception as exc:  # the drill reports it with its outcome
            self.harm.errors.append(f"relays: {type(exc).__name__}: {exc}")
        finally:
            admin.close()

    def drain(self, engine: Engine) -> None:
        """Stop the harm, then relay cleanly until no batch is left to deliver."""
        self.stop.set()
        self.thread.join(timeout=600)
        admin = ReceiverAdmin(self.receiver.url, SECRET)
        admin.set_mode(down_for=0, slow_ms=0, slow_for=None)
        admin.close()
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline:
            done = self._finish(self._child(), None)
            with engine.connect() as conn:
                pending = outboxes.pending_batches(conn)
            if not pending and not done:
                break
            time.sleep(1)

    def close(self) -> None:
        """Stop the relay thread and the receiver (twice is harmless)."""
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=60)
        if not self.closed:
            self.closed = True
            self.receiver.stop()

    def finish(self, engine: Engine) -> RelayCheck:
        """After the harmed night: drain, check, stop the receiver."""
        try:
            self.drain(engine)
            return self.check(engine)
        finally:
            self.close()

    def check(self, engine: Engine) -> RelayCheck:
        """What the receiver holds against what the database says was delivered."""
        keys_of: dict[tuple[str, str, str, str], set[str]] = {}
        outside = 0
        for path in self.root.rglob("*.json"):
            if any(p.startswith(".") for p in path.relative_to(self.root).parts):
                continue
            batch = json.loads(path.read_bytes())
            for row in batch["rows"]:
                ident = (batch["outbox"], str(row["kind"]), str(row["loan"]), str(row["day"]))
                keys_of.setdefault(ident, set()).add(batch["key"])
                if batch["outbox"] == "notifications" and not (
                        datetime.fromisoformat(row["send_from"]) <= self.clock
                        < datetime.fromisoformat(row["send_until"])):
                    outside += 1
        twice = sum(1 for keys in keys_of.values() if len(keys) > 1)
        problems: list[str] = []
        with engine.connect() as conn:
            handoffs, notices = outboxes.undelivered_agency_records(conn)
            open_reminders = outboxes.unsettled_reminders(conn, self.clock)
        if handoffs or notices:
            problems.append(f"agency records not delivered: {handoffs} handoffs, "
                            f"{notices} recall/written_off")
        if open_reminders:
            problems.append(f"{open_reminders} reminders past their window neither sent "
                            "nor expired")
        return RelayCheck(self.harm.sink_failures, twice, outside, problems,
                          runs=self.harm.runs, killed=self.harm.killed)


__all__ = ["RelayCheck", "RelayHarm", "Relays"]
