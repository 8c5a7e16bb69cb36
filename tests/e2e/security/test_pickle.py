"""A worker never unpickles: a pickle-serialized message is refused and discarded, its
task body never runs, and the worker goes on serving JSON messages."""

from __future__ import annotations

import json
import os
import time
from datetime import date
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import select

from drills import testing
from store import schema as s
from store.snapshot import differences, snapshot
from tests.support.security import start_worker, wait_until
from workers.celery_app import app

START = date(2026, 3, 1)
REFUSED = "Refusing to deserialize untrusted content of type pickle"


class Payload:
    """Unpickling this creates a directory: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def repay_kwargs(reference: str) -> dict[str, Any]:
    return {"user": "u0000001", "amount": 12_345, "reference": reference}


def _event_keys(engine: Any) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(s.events.c.key)).scalars())


def test_a_worker_refuses_pickled_messages_and_survives(
        fresh_postgres_url: str, stack_on: Any, tmp_path: Path, redis_url: str) -> None:
    engine = testing.seeded(fresh_postgres_url, 20, START, 20)
    st = stack_on(fresh_postgres_url)
    log = tmp_path / "worker.log"
    worker = start_worker(st, log, concurrency=1)
    with engine.connect() as conn:
        before = snapshot(conn)
    marker = tmp_path / "unpickled"

    # a valid repayment, only pickled: running it would book a payment
    app.send_task("creditcycle.repay", kwargs=repay_kwargs("pickled-1"), serializer="pickle",
                  queue="cycle")
    # a pickle that runs code when loaded
    app.send_task("creditcycle.repay", kwargs={**repay_kwargs("pickled-2"),
                                               "x": Payload(marker)},
                  serializer="pickle", queue="cycle")
    wait_until(lambda: log.exists() and log.read_text(errors="replace").count(REFUSED) >= 2,
               60, "the worker to refuse both pickled messages")

    client = redis.Redis.from_url(redis_url)
    assert client.llen("cycle") == 0, "a refused message was put back"
    assert client.hlen("unacked") == 0
    assert not marker.exists(), "the worker unpickled a message"
    with engine.connect() as conn:
        assert differences(before, snapshot(conn)) == []
        assert conn.execute(select(s.task_failures)).all() == []

    # the worker is alive and does the same payload as JSON: the refusal was the serializer
    assert worker.poll() is None
    app.send_task("creditcycle.repay", kwargs=repay_kwargs("json-1"), queue="cycle")
    wait_until(lambda: "repay:json-1" in _event_keys(engine), 60, "the JSON repayment")
    keys = _event_keys(engine)
    assert "repay:pickled-1" not in keys and "repay:pickled-2" not in keys
    time.sleep(0.5)
    assert worker.poll() is None


def test_the_app_accepts_json_only() -> None:
    assert app.conf.accept_content == ["json"]
    assert app.conf.result_accept_content == ["json"]
    assert app.conf.task_serializer == app.conf.result_serializer == "json"
    assert app.conf.event_serializer == "json"


def test_flowers_task_api_cannot_make_a_worker_unpickle(
        fresh_postgres_url: str, stack_on: Any, tmp_path: Path, creditcycle_flower: Any) -> None:
    """Flower passes a body's other keys to apply_async, so a caller can ask for
    ``"serializer": "pickle"``; the worker must refuse what arrives."""
    engine = testing.seeded(fresh_postgres_url, 20, START, 20)
    st = stack_on(fresh_postgres_url)
    log = tmp_path / "worker.log"
    worker = start_worker(st, log, concurrency=1)
    flower = creditcycle_flower({**st.env, "FLOWER_BASIC_AUTH": "operator:test-only-pw"})
    with engine.connect() as conn:
        before = snapshot(conn)
    body = json.dumps({"kwargs": repay_kwargs("flower-pickled"), "serializer": "pickle"})
    status, answer = flower.request("POST", "/api/task/async-apply/creditcycle.repay",
                                    auth=("operator", "test-only-pw"), body=body.encode())
    assert status == 200, answer
    wait_until(lambda: log.exists() and REFUSED in log.read_text(errors="replace"), 60,
               "the worker to refuse the pickled message")
    with engine.connect() as conn:
        assert differences(before, snapshot(conn)) == []
    assert "repay:flower-pickled" not in _event_keys(engine)
    assert worker.poll() is None
