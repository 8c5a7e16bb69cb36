"""A malformed message on the queue is dropped and logged; the worker lives on.

kombu's Redis transport parses each envelope and decodes its body before Celery sees it;
an error there used to end the worker ("Unrecoverable error", exit 1).
"""

from __future__ import annotations

import base64
import json
import time
from datetime import date
from pathlib import Path

import redis

from cli import api
from drills.testing import seeded, wait_closed

START = date(2026, 3, 1)


def _envelope(client: redis.Redis, redis_url: str) -> dict[str, object]:
    """A real envelope as Celery sends it (to a queue nobody reads)."""
    from workers.celery_app import app

    app.send_task("creditcycle.applications.expire", queue="envelope-probe")
    raw = client.rpop("envelope-probe")
    assert raw is not None
    return dict(json.loads(raw))


def test_malformed_messages_are_dropped_and_logged_and_the_next_task_still_runs(
        sqlite_url: str, redis_url: str, make_stack, tmp_path: Path) -> None:
    engine = seeded(sqlite_url, 20, START, 20)
    st = make_stack(sqlite_url)
    worker = st.processes[-1]
    client = redis.Redis.from_url(redis_url)
    good = _envelope(client, redis_url)
    bad_body = {**good, "body": "!!! not base64 !!!"}
    no_tag = {**good, "properties": {"body_encoding": "base64"}}
    not_json_body = {**good, "body": base64.b64encode(b"{not json").decode()}
    garbage = [b"this is not JSON", b"[1, 2, 3]", b"null", json.dumps(bad_body),
               json.dumps(no_tag), json.dumps(not_json_body)]
    time.sleep(2)  # the worker is consuming
    for raw in garbage:
        client.lpush("cycle", raw)
    time.sleep(3)
    assert worker.poll() is None, "the worker died on a malformed message"
    api.submit("creditcycle.cycle.run", date=START.isoformat())
    wait_closed(engine, START, timeout=60)
    engine.dispose()
    assert worker.poll() is None
    assert client.llen("cycle") == 0
    deadline = time.monotonic() + 10
    while client.hlen("unacked") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.hlen("unacked") == 0  # nothing left to come back after the visibility timeout
    log = (tmp_path / "worker-1.log").read_text(encoding="utf-8", errors="replace")
    assert log.count("dropped a malformed message") >= 5, log[-3000:]
    assert "this is not JSON" in log
    client.close()
