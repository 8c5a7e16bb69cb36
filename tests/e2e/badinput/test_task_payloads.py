"""Bad task payloads are refused naming the field, and change nothing.

Generated cases (max_examples):
- the Python API's ``validate``, per task: 10 tasks x 450 = 4,500
- the Python API's ``submit`` (nothing reaches the broker): 600
- a real Celery worker on a real Redis against PostgreSQL, messages sent with
  ``app.send_task`` (a rejection row with the task id and the field): 250, plus 30 valid
  payloads naming a user who does not exist and three repayments naming an unknown loan
  or a closed date
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from cli import api
from domain.commands import InputError
from store import schema as s
from store.engine import make_engine
from store.snapshot import differences
from tests.support.badinput import CASES, business_state, seed, stored_field, wait_for_rejections
from tests.support.strategies import VALID_ID, any_bad_payload, bad_payload
from workers.celery_app import app

SLOW_OK = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]


@pytest.mark.parametrize("task", sorted(api.TASKS))
def test_the_python_api_refuses_every_bad_payload_of_a_task_naming_the_field(task: str) -> None:
    @settings(max_examples=450, deadline=None, suppress_health_check=SLOW_OK)
    @given(bad_payload(task))
    def case(payload: tuple[dict[str, Any], list[Any], str]) -> None:
        kwargs, _, field = payload
        with pytest.raises(InputError) as err:
            api.validate(task, kwargs)
        assert err.value.field == field, (kwargs, err.value)
        assert err.value.message
        assert str(err.value).startswith(f"{field}: ")
        CASES["python api: validate"] += 1

    case()


def test_an_unknown_task_name_is_refused_naming_the_task_field() -> None:
    @settings(max_examples=100, deadline=None)
    @given(st.text(max_size=60).filter(lambda t: t not in api.TASKS))
    def case(name: str) -> None:
        with pytest.raises(InputError) as err:
            api.validate(name, {})
        assert err.value.field == "task"
        with pytest.raises(InputError):
            api.submit(name)
        CASES["python api: unknown task"] += 1

    case()


def test_submit_refuses_every_bad_payload_and_sends_nothing(
        redis_url: str, seeded_sqlite: str, environment: pytest.MonkeyPatch) -> None:
    from drills.stack import local_stack

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    engine = make_engine(seeded_sqlite)
    before = business_state(engine)
    with local_stack(seeded_sqlite, redis_url=redis_url):

        @settings(max_examples=600, deadline=None, suppress_health_check=SLOW_OK)
        @given(any_bad_payload())
        def case(payload: tuple[str, dict[str, Any], list[Any], str]) -> None:
            task, kwargs, _, field = payload
            # submit drops None values (unset CLI options): an unknown key set to None
            # carries nothing and is dropped like an unset option.
            assume(not any(v is None and k not in api.TASKS[task].model_fields
                           for k, v in kwargs.items()))
            with pytest.raises(InputError) as err:
                api.submit(task, **kwargs)
            assert err.value.field == field, (task, kwargs, err.value)
            CASES["python api: submit"] += 1

        case()
    assert client.llen("cycle") == 0, "a refused submission reached the broker"
    assert differences(before, business_state(engine)) == []


def test_a_real_worker_rejects_every_bad_message_storing_the_field_and_changing_nothing(
        fresh_postgres_url: str, workers_on: Any) -> None:
    engine = seed(fresh_postgres_url)
    st_ = workers_on(fresh_postgres_url)
    before = business_state(engine)
    sent: list[tuple[str, str, str, dict[str, Any], list[Any]]] = []

    @settings(max_examples=250, deadline=None, suppress_health_check=SLOW_OK, database=None)
    @given(any_bad_payload(json_only=True, with_args=True))
    def case(payload: tuple[str, dict[str, Any], list[Any], str]) -> None:
        task, kwargs, args, field = payload
        result = app.send_task(task, args=args, kwargs=kwargs, queue="cycle")
        sent.append((result.id, task, field, kwargs, args))

    case()

    @settings(max_examples=30, deadline=None, database=None)
    @given(st.sampled_from(["creditcycle.repay", "creditcycle.limit.recalc"]),
           VALID_ID.filter(lambda u: not u.startswith("u0")), st.integers(1, 10**6))
    def unknown_user(task: str, user: str, amount: int) -> None:
        kwargs: dict[str, Any] = {"user": user}
        if task == "creditcycle.repay":
            kwargs.update(amount=amount, reference=f"ref-{user}")
        api.validate(task, kwargs)  # a valid payload: only the worker can tell
        sent.append((app.send_task(task, kwargs=kwargs, queue="cycle").id, task, "user",
                     kwargs, []))

    unknown_user()
    # valid payloads a worker refuses on what is stored: an unknown loan, a closed date
    for i, (field, value) in enumerate([("loan", "L9999999"), ("date", "2020-01-01"),
                                        ("date", "2026-02-28")]):
        kwargs = {"user": "u0000001", "amount": 100, "reference": f"refused-{i}", field: value}
        sent.append((app.send_task("creditcycle.repay", kwargs=kwargs, queue="cycle").id,
                     "creditcycle.repay", field, kwargs, []))

    rows = wait_for_rejections(engine, [t for t, *_ in sent])
    missing = [(task, kwargs, args) for t, task, _, kwargs, args in sent if t not in rows]
    assert not missing, f"{len(missing)} messages left no rejection row, e.g. {missing[:3]}"
    for task_id, task, field, kwargs, args in sent:
        row = rows[task_id]
        assert row.task == task
        assert row.field == stored_field(field), (task, kwargs, args, row.field, row.reason)
        assert row.reason
    CASES["worker: app.send_task"] += len(sent)
    with engine.connect() as conn:
        failures = conn.execute(select(s.task_failures.c.task, s.task_failures.c.error)).all()
        assert failures == []
        assert conn.execute(select(func.count()).select_from(s.rejections)).scalar() == len(sent)
    assert differences(before, business_state(engine)) == []
    assert all(p.poll() is None for p in st_.processes), "a worker died"
