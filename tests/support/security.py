"""Real workers (logging at INFO, as `creditcycle worker` does) and a real Flower started
through `creditcycle flower`."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from drills.servers import free_port
from drills.stack import Stack, local_stack

REPO = Path(__file__).resolve().parents[2]
CREDITCYCLE = Path(sys.executable).parent / "creditcycle"
CHUNK = 20



@pytest.fixture
def stack_on(redis_url: str, environment: pytest.MonkeyPatch) -> Iterator[Callable[..., Stack]]:
    """The environment for workers against a database (workers are started by the test)."""
    with ExitStack() as stack:

        def start(url: str) -> Stack:
            client = redis.Redis.from_url(redis_url)
            client.flushdb()
            client.close()
            return stack.enter_context(local_stack(url, redis_url=redis_url, extra_env={
                "CREDITCYCLE_CHUNK_SIZE": str(CHUNK), "CREDITCYCLE_RETRY_SCALE": "0.05"}))

        yield start


def start_worker(st: Stack, log: Path, concurrency: int = 2) -> subprocess.Popen[bytes]:
    """A worker logging at INFO, the level of `creditcycle worker`."""
    return st._spawn([sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
                      "-Q", "cycle", "-c", str(concurrency), "-n", f"sec-{os.getpid()}@%h",
                      "-l", "INFO", "--without-gossip", "--without-mingle"], None, log)


def wait_until(check: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what or check}")
        time.sleep(0.2)


@dataclass
class Http:
    port: int

    def request(self, method: str, path: str, *, auth: tuple[str, str] | None = None,
                body: bytes | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body,
                                     method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


@pytest.fixture
def creditcycle_flower(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Http]]:
    """`creditcycle flower --port P` with the given environment; stopped after the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> Http:
        port = free_port()
        log = tmp_path / "flower.log"
        env = {"CREDITCYCLE_CONTACT_SECRET": "a-deployment-secret", **env}  # not a demo
        proc = subprocess.Popen([str(CREDITCYCLE), "flower", "--port", str(port)], env=env,
                                cwd=REPO, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        procs.append(proc)
        http = Http(port)

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"Flower exited with {proc.returncode}: {log.read_text()}")
            try:
                return http.request("GET", "/healthcheck")[0] == 200
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        wait_until(up, 60, "Flower")
        return http

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
