"""Fixtures of the bad-input suite: a seeded database, real workers, a real Flower.

Bad input on every entry point, generated with hypothesis (issue 5, part 2).

Each case breaks one field of a valid input and must be refused naming that field,
with the database unchanged. Generated cases per run (the max_examples of the modules):
task payloads through the Python API 5,200, through a real worker 280, through Flower's
task API 147; configuration 2,500; scenario files 2,100; command lines 1,000; the way
in's batches (events.record, users.upsert, their JSONL files; e2e/badinput/test_batches.py)
5,070: 16,297 in all. ``CASES`` counts them as they run; the totals are printed at the end of
the session (this module's ``pytest_terminal_summary``).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, select

from drills import testing
from drills.servers import free_port
from drills.stack import Stack, local_stack
from store import schema as s
from store.snapshot import snapshot

CASES: Counter[str] = Counter()

START = date(2026, 3, 1)
USERS, CHUNK = 30, 10


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CASES:
        return
    terminalreporter.write_sep("-", f"bad input: {sum(CASES.values()):,} generated cases, "
                                    "each refused naming its field")
    for name, n in sorted(CASES.items()):
        terminalreporter.write_line(f"  {n:>6,}  {name}")


def seed(url: str) -> Engine:
    """A small portfolio (users u0000000.., one loan each) with the day before START closed."""
    return testing.seeded(url, USERS, START, CHUNK)


def business_state(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return snapshot(conn)


def rejections(engine: Engine, task_ids: list[str]) -> dict[str, Any]:
    r = s.rejections.c
    out = {}
    with engine.connect() as conn:
        for i in range(0, len(task_ids), 500):
            out.update({row.task_id: row for row in conn.execute(
                select(s.rejections).where(r.task_id.in_(task_ids[i:i + 500])))})
    return out


def wait_for_rejections(engine: Engine, task_ids: list[str], timeout: float = 120
                        ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = rejections(engine, task_ids)
        if len(rows) == len(task_ids) or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def stored_field(field: str) -> str:
    """How a field name is stored in ``rejections.field`` (NUL and lone surrogates escaped,
    at most 200 characters)."""
    return (field.encode("utf-8", "backslashreplace").decode("utf-8")
            .replace("\x00", "\\x00")[:200])


@pytest.fixture
def seeded_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/seeded.db"
    seed(url).dispose()
    return url



@pytest.fixture
def workers_on(redis_url: str, tmp_path: Path, environment: pytest.MonkeyPatch
               ) -> Iterator[Callable[..., Stack]]:
    """Start real Celery workers on the session's Redis against a database; stopped after."""
    with ExitStack() as stack:

        def start(url: str, *, concurrency: int = 2) -> Stack:
            client = redis.Redis.from_url(redis_url)
            client.flushdb()
            client.close()
            st = stack.enter_context(local_stack(url, redis_url=redis_url, extra_env={
                "CREDITCYCLE_CHUNK_SIZE": str(CHUNK), "CREDITCYCLE_RETRY_SCALE": "0.05"}))
            st.start_worker(concurrency, log=tmp_path / "worker.log")
            return st

        yield start


@dataclass
class Flower:
    port: int
    auth: tuple[str, str]
    process: subprocess.Popen[bytes]

    def request(self, method: str, path: str, body: Any = None, *,
                auth: tuple[str, str] | bool | None = True,
                raw: bytes | None = None) -> tuple[int, bytes]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     method=method)
        req.add_header("Content-Type", "application/json")
        creds = self.auth if auth is True else auth or None
        if creds:
            token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


def wait_http(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60
              ) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"Flower exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthcheck", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def flower_on(tmp_path: Path) -> Iterator[Callable[[Stack], Flower]]:
    """Flower (`celery flower`, basic auth) for a stack's Redis and database."""
    flowers: list[Flower] = []

    def start(st: Stack) -> Flower:
        port = free_port()
        log = tmp_path / "flower.log"
        auth = ("operator", "test-only-flower-credential")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", "flower",
             "--address=127.0.0.1", f"--port={port}", f"--basic-auth={auth[0]}:{auth[1]}"],
            env={k: v for k, v in st.env.items() if k != "FLOWER_UNAUTHENTICATED_API"},
            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        fl = Flower(port, auth, proc)
        flowers.append(fl)
        wait_http(port, proc, log)
        return fl

    yield start
    for fl in flowers:
        fl.process.terminate()
        try:
            fl.process.wait(20)
        except subprocess.TimeoutExpired:
            fl.process.kill()
            fl.process.wait()
