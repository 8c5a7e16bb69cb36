"""Real Celery workers on a real Redis, against a database the test prepares."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from drills.stack import Stack, local_stack

CHUNK = 20


@pytest.fixture
def make_stack(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Start workers against a database; everything is stopped at the end of the test."""
    stacks = []

    def start(url: str, *, concurrency: int = 2, fault: str = "") -> Stack:
        env = {"CREDITCYCLE_CHUNK_SIZE": str(CHUNK), "CREDITCYCLE_RETRY_SCALE": "0.05",
               "CREDITCYCLE_FAULT": fault}
        cm = local_stack(url, redis_url=redis_url, extra_env=env)
        st = cm.__enter__()
        stacks.append(cm)
        client = redis.Redis.from_url(redis_url)
        client.flushdb()
        client.close()
        st.start_worker(concurrency, log=tmp_path / f"worker-{len(stacks)}.log")
        return st

    yield start
    for cm in reversed(stacks):
        cm.__exit__(None, None, None)
