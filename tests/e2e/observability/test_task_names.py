"""What Flower sees of a night: task events, read as Flower reads them.

Flower labels its /metrics series by the task name of each event, so that name must
be the registered one; the chunk's date, step and number are in its kwargs.
"""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

from cli import api
from drills.stack import local_stack
from drills.testing import seeded, wait_closed


def test_every_chunk_event_carries_the_registered_name_and_shows_its_date_step_and_chunk(
        redis_url: str, sqlite_url: str, tmp_path: Path) -> None:
    start = date(2026, 3, 1)
    engine = seeded(sqlite_url, 50, start, 20)
    events: list[dict[str, Any]] = []
    with local_stack(sqlite_url, redis_url=redis_url,
                     extra_env={"CREDITCYCLE_CHUNK_SIZE": "20"}) as st:
        from workers.celery_app import app

        with app.connection_for_read() as conn:
            receiver = app.events.Receiver(conn, handlers={"*": events.append})
            thread = threading.Thread(target=receiver.capture,
                                      kwargs={"limit": None, "timeout": None}, daemon=True)
            thread.start()
            time.sleep(1.5)  # the receiver's queue is bound before anything is sent
            st.start_worker(2, name="names", log=tmp_path / "worker.log")
            api.submit("creditcycle.cycle.run", date=start.isoformat())
            wait_closed(engine, start)
            time.sleep(1.0)
            receiver.should_stop = True
            thread.join(timeout=10)
    engine.dispose()
    tasks = [e for e in events if e["type"] in ("task-sent", "task-received")]
    names = {e["name"] for e in tasks}
    assert "creditcycle.cycle.chunk" in names, sorted(names)
    assert names <= {"creditcycle.cycle.chunk", "creditcycle.cycle.run"}, sorted(names)
    deduct = [e for e in tasks if e["type"] == "task-received"
              and e["name"] == "creditcycle.cycle.chunk" and "'deduct'" in e["kwargs"]]
    assert len(deduct) == 3, [e["kwargs"] for e in tasks]  # 50 users in chunks of 20
    shown = {e["kwargs"] for e in deduct}
    for chunk_no in range(3):
        assert any(f"'date': '{start}'" in k and f"'chunk_no': {chunk_no}" in k
                   for k in shown), shown
