"""The relays through Celery: beat schedules them and a real worker delivers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from domain import outbox as ob
from store import schema as s
from tests.support.helpers import migrated_engine
from tests.support.outbox import ALPHA, T0, D, add_case, add_handoffs, add_reminders


def test_beat_schedules_the_relays_and_their_tasks_deliver_through_a_real_worker(
        fresh_postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    import time

    from cli import api
    from drills.stack import local_stack
    from schedules.beat import TABLE

    scheduled = {task for _, task, _, _ in TABLE}
    names = {f"creditcycle.relay.{r}" for r in ob.RELAYS}
    assert names <= scheduled and names <= set(api.TASKS)
    assert "creditcycle.notifications.dispatch" not in scheduled  # the flag-setter is gone

    engine = migrated_engine(fresh_postgres_url)
    add_handoffs(engine, ALPHA, D, ["L1"])
    add_case(engine, "L1", ALPHA, "recalled", D + timedelta(days=3))
    add_reminders(engine, ["L1"], T0, T0 + timedelta(hours=13))
    out = tmp_path / "out"
    env = {"CREDITCYCLE_SINK_AGENCIES": f"file://{out}",
           "CREDITCYCLE_SINK_NOTIFICATIONS": f"file://{out}",
           "CREDITCYCLE_NOW": (T0 + timedelta(hours=1)).isoformat()}
    try:
        with local_stack(fresh_postgres_url, redis_url=redis_url, extra_env=env) as st:
            st.start_worker(1, log=tmp_path / "worker.log")
            for name in sorted(names):
                api.submit(name)
            deadline = time.monotonic() + 90
            b = s.outbox_batches.c
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    got = dict(conn.execute(select(b.outbox, func.sum(b.rows)).where(
                        b.status == "delivered").group_by(b.outbox)).all())
                if got == {f"agency:{ALPHA}": 2, "notifications": 1}:
                    break
                time.sleep(0.5)
            else:
                pytest.fail(f"not delivered through the worker: {got}; see worker.log")
        assert len(list((out / "agency" / ALPHA).glob("*.json"))) == 2  # two dates
        assert len(list((out / "notifications").glob("*.json"))) == 1
        n = s.notifications.c
        with engine.connect() as conn:
            assert conn.execute(select(n.status)).scalar_one() == "sent"
    finally:
        engine.dispose()
