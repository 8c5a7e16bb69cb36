"""Bad batches of the way in are refused whole, naming the item and field; nothing changes.

Generated cases (max_examples):
- ``events.record`` batches through the Python API, one bad event each: 3,000
- ``users.upsert`` batches through the Python API, one bad user each: 1,500
- ``creditcycle events record FILE.jsonl``, one bad line: 300
- a real Celery worker on a real Redis against PostgreSQL (``app.send_task``): 150 bad
  event batches, 40 with an unknown user, 20 reusing a recorded key with other content,
  60 bad user batches; a snapshot of every business table before and after
5,070 in all.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import api
from cli.main import main
from domain.commands import InputError
from store.engine import make_engine
from store.snapshot import differences
from tests.support.badinput import CASES, business_state, seed, stored_field, wait_for_rejections
from tests.support.batches import SEEDED, ZONE, bad_events_batch, bad_users_batch, valid_event
from tests.support.strategies import VALID_ID
from workers.celery_app import app

SLOW_OK = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
NOW = datetime.now(ZONE)


def test_the_python_api_refuses_a_batch_with_one_bad_event_naming_the_event_and_field(
        ) -> None:
    @settings(max_examples=3000, deadline=None, suppress_health_check=SLOW_OK)
    @given(bad_events_batch(NOW))
    def case(payload: tuple[list[Any], str]) -> None:
        batch, field = payload
        with pytest.raises(InputError) as err:
            api.validate("creditcycle.events.record", {"events": batch})
        assert err.value.field == field, (batch, err.value)
        assert err.value.message
        CASES["batches: events through the python api"] += 1

    case()


def test_the_python_api_refuses_a_batch_with_one_bad_user_naming_the_user_and_field() -> None:
    @settings(max_examples=1500, deadline=None, suppress_health_check=SLOW_OK)
    @given(bad_users_batch())
    def case(payload: tuple[list[Any], str]) -> None:
        batch, field = payload
        with pytest.raises(InputError) as err:
            api.validate("creditcycle.users.upsert", {"users": batch})
        assert err.value.field == field, (batch, err.value)
        CASES["batches: users through the python api"] += 1

    case()


def test_a_jsonl_file_with_one_bad_line_is_refused_naming_the_line_and_nothing_is_sent(
        seeded_sqlite: str, environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environment.delenv("REDIS_URL", raising=False)
    engine = make_engine(seeded_sqlite)
    before = business_state(engine)
    path = tmp_path / "events.jsonl"

    @settings(max_examples=300, deadline=None, suppress_health_check=SLOW_OK)
    @given(bad_events_batch(NOW, SEEDED), st.sampled_from(["1", "3", "1000"]))
    def case(payload: tuple[list[Any], str], size: str) -> None:
        batch, field = payload
        path.write_text("".join(json.dumps(x) + "\n" for x in batch))
        index, _, rest = field.removeprefix("events[").partition("]")
        where = f"{path}:{int(index) + 1}" + (f": {rest[1:]}" if rest else "")
        result = CliRunner().invoke(main, ["events", "record", str(path), "--batch-size",
                                           size, "--database-url", seeded_sqlite])
        assert result.exit_code == 2, (batch, result.output)
        assert result.stderr.startswith(f"error: {where}: "), (field, result.stderr)
        CASES["batches: events record FILE.jsonl"] += 1

    case()
    assert differences(before, business_state(engine)) == []
    engine.dispose()


def test_a_real_worker_refuses_bad_batches_whole_storing_the_field_and_changing_nothing(
        fresh_postgres_url: str, workers_on: Any) -> None:
    engine = seed(fresh_postgres_url)
    workers_on(fresh_postgres_url)
    recorded = {"key": "kept-1", "kind": "wallet_topup", "user": "u0000001", "amount": 500}
    api.run_here("creditcycle.events.record", events=[recorded])
    before = business_state(engine)
    sent: list[tuple[str, str, str, Any]] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=SLOW_OK, database=None)
    @given(bad_events_batch(NOW, SEEDED))
    def bad_events(payload: tuple[list[Any], str]) -> None:
        batch, field = payload
        result = app.send_task("creditcycle.events.record", kwargs={"events": batch},
                               queue="cycle")
        sent.append((result.id, "creditcycle.events.record", field, batch))

    @settings(max_examples=40, deadline=None, database=None)
    @given(st.lists(valid_event(0, NOW, SEEDED), min_size=1, max_size=5),
           VALID_ID.filter(lambda u: not u.startswith("u0")), st.data())
    def unknown_user(batch: list[Any], user: str, data: st.DataObject) -> None:
        at = data.draw(st.integers(0, len(batch) - 1))
        batch = [{**x, "key": f"u{i}-{x['key']}"} for i, x in enumerate(batch)]
        batch[at]["user"] = user
        api.validate("creditcycle.events.record", {"events": batch})  # only a worker knows
        result = app.send_task("creditcycle.events.record", kwargs={"events": batch},
                               queue="cycle")
        sent.append((result.id, "creditcycle.events.record", f"events[{at}].user", batch))

    @settings(max_examples=20, deadline=None, database=None)
    @given(st.lists(valid_event(0, NOW, SEEDED), min_size=1, max_size=5),
           st.integers(501, 10**6), st.data())
    def key_reused(batch: list[Any], amount: int, data: st.DataObject) -> None:
        at = data.draw(st.integers(0, len(batch) - 1))
        batch = [{**x, "key": f"r{i}-{x['key']}"} for i, x in enumerate(batch)]
        batch[at] = {**recorded, "amount": amount}
        result = app.send_task("creditcycle.events.record", kwargs={"events": batch},
                               queue="cycle")
        sent.append((result.id, "creditcycle.events.record", f"events[{at}].key", batch))

    @settings(max_examples=60, deadline=None, suppress_health_check=SLOW_OK, database=None)
    @given(bad_users_batch())
    def bad_users(payload: tuple[list[Any], str]) -> None:
        batch, field = payload
        result = app.send_task("creditcycle.users.upsert", kwargs={"users": batch},
                               queue="cycle")
        sent.append((result.id, "creditcycle.users.upsert", field, batch))

    for generate in (bad_events, unknown_user, key_reused, bad_users):
        generate()
    rows = wait_for_rejections(engine, [t for t, *_ in sent])
    missing = [(task, batch) for t, task, _, batch in sent if t not in rows]
    assert not missing, f"{len(missing)} batches left no rejection row, e.g. {missing[:2]}"
    for task_id, task, field, batch in sent:
        row = rows[task_id]
        assert (row.task, row.field) == (task, stored_field(field)), (batch, row.reason)
        if field.endswith(".key") and batch[int(field[7:].split("]")[0])].get("key") == "kept-1":
            assert row.reason.startswith("KEY_REUSED")
    CASES["batches: worker app.send_task"] += len(sent)
    assert differences(before, business_state(engine)) == []
