"""The chaos drill's harm: what was done (:class:`Harm`) and who does it (:class:`Saboteur`):
SIGKILLs of workers, duplicated chunk messages, and the one-off Redis restart, bank
simulator restart and PostgreSQL stop as the cycle passes its milestones."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from domain.steps import CLOSE, SINGLE
from drills.bench import _worker_pids
from drills.stack import Stack
from store import schema as s


@dataclass
class Harm:
    kills: int = 0
    duplicates: int = 0
    redis_restarts: int = 0
    postgres_stops: int = 0
    postgres_down_s: float = 0.0
    bank_restarts: int = 0
    log: list[str] = field(default_factory=list)


#: A pool child killed while its worker boots takes the whole worker down ("Could not
#: start worker processes"); two at the start left no worker and a drill that waited out
#: its timeout. A worker's children are spared this long after it is first seen.
BOOT_S = 10.0


class Saboteur:
    """Does harm on a schedule from a background thread while the cycle runs."""

    def __init__(self, stack: Stack, engine: Engine, url: str, pg: Any, redis: Any,
                 harm: Harm, rng: random.Random, *, kills: int, pg_down_s: float,
                 start_worker: Callable[[], None]) -> None:
        self.stack, self.engine, self.pg, self.redis = stack, engine, pg, redis
        self.harm, self.rng, self.kills, self.pg_down_s = harm, rng, kills, pg_down_s
        self.start_worker = start_worker
        self.stop = threading.Event()
        self.did_redis = self.did_pg = self.did_bank = False
        self.bank_restart: threading.Thread | None = None
        self.progress = 0.0
        self.seen: dict[int, float] = {}  # worker pid: when first seen

    def _worker_mains(self) -> list[Any]:
        """Running Celery workers (not the beats: their command has no ``worker`` word)."""
        return [p for p in self.stack.processes
                if p.poll() is None and "worker" in list(p.args)]  # type: ignore[arg-type]

    def _worker_children(self) -> list[int]:
        now = time.monotonic()
        booted = [proc for proc in self._worker_mains()
                  if now - self.seen.setdefault(proc.pid, now) >= BOOT_S]
        return [p for proc in booted for p in _worker_pids(proc.pid) if p != proc.pid]

    def kill_one(self) -> None:
        """SIGKILL a worker child (every tenth time a whole worker, then start another)."""
        mains = self._worker_mains()
        if self.harm.kills % 10 == 9 and mains:
            victim = self.rng.choice(mains)
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
            self.harm.log.append(f"killed a whole worker {victim.pid}")
            self.start_worker()
        else:
            children = self._worker_children()
            if not children:
                return
            pid = self.rng.choice(children)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return
        self.harm.kills += 1

    def duplicate_one(self) -> None:
        """Send again a chunk message of the running step (a duplicate delivery)."""
        from workers.celery_app import app

        c, k = s.cycle_runs.c, s.cycle_chunks.c
        try:
            with self.engine.connect() as conn:
                row = conn.execute(select(c.day, c.step, c.at, c.run).where(
                    c.status == "running", c.step != CLOSE).order_by(c.day).limit(1)).first()
                if row is None or row.step in SINGLE:
                    return
                chunk = conn.execute(select(s.cycle_chunks).where(k.day == row.day)
                                     .order_by(func.random()).limit(1)).first()
        except DBAPIError:
            return
        if chunk is None:
            return
        app.send_task("creditcycle.cycle.chunk", queue="cycle", kwargs={
            "date": row.day.isoformat(), "step": row.step, "at": row.at, "run": row.run,
            "chunk_no": chunk.chunk_no,
            "lo": chunk.lo, "hi": chunk.hi})
        self.harm.duplicates += 1

    def run(self) -> None:
        """Kill and duplicate at random until stopped; its own errors are logged, never raised."""
        while not self.stop.is_set():
            time.sleep(self.rng.uniform(0.2, 1.2))
            if self.stop.is_set():
                break
            try:
                if self.harm.kills < self.kills and self.rng.random() < 0.6:
                    self.kill_one()
                if self.rng.random() < 0.5:
                    self.duplicate_one()
            except Exception as exc:  # the saboteur must outlive what it breaks
                self.harm.log.append(f"saboteur: {type(exc).__name__}: {exc}")

    def _restart_bank(self) -> None:
        try:
            # SIGTERM, not SIGKILL: a simulator killed between committing a debit and
            # answering it leaves a debit the clean run's ReplayBank cannot see (it shows as
            # a difference, never hides one); until the replay learns that case the drill
            # restarts the bank between two calls.
            self.stack.restart_bank(down_s=2.0, kill=False)
            self.harm.bank_restarts += 1
            self.harm.log.append("stopped the bank simulator, restarted it 2s later")
        except Exception as exc:  # the harness must outlive what it breaks
            self.harm.log.append(f"saboteur: {type(exc).__name__}: {exc}")

    def join_bank_restart(self) -> None:
        """Wait for the bank's restart, if one runs (the operator's pass needs the bank)."""
        if self.bank_restart is not None:
            self.bank_restart.join(timeout=60)

    def milestones(self) -> None:
        """The one-off harms, when the cycle passes 30% and 55% of its dates. Called by
        whoever watches the progress, as soon as it sees it: a fast cycle must not close
        its last date before they happen, as it could between the saboteur's random
        pauses."""
        try:
            if not self.did_redis and self.progress > 0.3:
                self.did_redis = True
                self.redis.restart()
                self.harm.redis_restarts += 1
                self.harm.log.append("restarted Redis (its queue was lost)")
            if not self.did_bank and self.progress > 0.4 and self.stack.bank is not None:
                self.did_bank = True  # in the background: the watcher must not miss 55%
                self.bank_restart = threading.Thread(target=self._restart_bank, daemon=True)
                self.bank_restart.start()
            if not self.did_pg and self.progress > 0.55:
                self.did_pg = True
                t = time.monotonic()
                self.pg.stop()
                time.sleep(self.pg_down_s)
                self.pg.start()
                self.harm.postgres_stops += 1
                self.harm.postgres_down_s += time.monotonic() - t
                self.harm.log.append(f"stopped PostgreSQL for {self.pg_down_s:.0f}s")
        except Exception as exc:  # the harness must outlive what it breaks
            self.harm.log.append(f"saboteur: {type(exc).__name__}: {exc}")



__all__ = ["Harm", "Saboteur"]
