"""A scenario through real Celery workers on Redis: the same story, the same result.

Events of each date are applied here (they come from outside the cycle);
the daytime deduction attempts and the close of business are submitted as
tasks and run by worker processes.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from cli import api
from domain.commands import Event
from domain.money import date_range
from domain.steps import Step, StepKey, attempt_code
from drills.stack import local_stack
from drills.testing import wait_closed
from schedules.business_date import CLOCK_VARIABLE
from store import cycle as cyc
from store.engine import make_engine, migrate, require_empty
from workers.ingest import apply_events, expire_applications
from workers.scenario import parse, result, seed


def _wait_step(engine: Engine, on: date, key: StepKey, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            row = cyc.step_row(conn, on, key)
        if row is not None and row.status in (cyc.DONE, cyc.EXCEPTIONS):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{key.label} of {on} did not finish in {timeout}s")


def run_scenario_via_celery(data: Any, database_url: str | None = None,
                            concurrency: int = 2, redis_url: str | None = None
                            ) -> dict[str, Any]:
    """Run a scenario day by day on a real Celery stack and return its ``result``."""
    sc = parse(data)
    with tempfile.TemporaryDirectory(prefix="creditcycle-celery-") as tmp:
        url = database_url or f"sqlite:///{tmp}/scenario.db"
        config_file = Path(tmp) / "config.json"
        config_file.write_text(json.dumps(sc.config.model_dump(mode="json")), encoding="utf-8")
        require_empty(url)
        migrate(url)
        engine = make_engine(url)
        try:
            seed(engine, sc)
            by_day: dict[date, list[tuple[str, Event]]] = {}
            for i, e in enumerate(sc.events):
                by_day.setdefault(e.date, []).append((f"scenario:{i}", e))
            with local_stack(url, redis_url=redis_url, bank="local",  # the examples' bank
                             extra_env={"CREDITCYCLE_CONFIG": str(config_file),
                                        CLOCK_VARIABLE: f"{sc.run.end + timedelta(days=1)}T00:30"}
                             ) as st:
                st.start_worker(concurrency, log=Path(tmp) / "worker.log")
                for day in date_range(sc.run.start, sc.run.end):
                    with engine.begin() as conn:
                        apply_events(conn, by_day.get(day, []), sc.config)
                    for at in sc.config.deduct_attempt_times:
                        api.submit("creditcycle.deduct.attempt", at=at, date=day.isoformat())
                        _wait_step(engine, day, StepKey(Step.DEDUCT, attempt_code(at)))
                    api.submit("creditcycle.cycle.run", date=day.isoformat())
                    wait_closed(engine, day, timeout=600)
                    with engine.begin() as conn:  # the hourly expiry at the day's end
                        expire_applications(conn, datetime.combine(
                            day + timedelta(days=1), clock_time(0, 0),
                            tzinfo=ZoneInfo(sc.config.time_zone)), sc.config)
            return result(engine)
        finally:
            engine.dispose()
