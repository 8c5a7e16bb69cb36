"""Bad payloads submitted through Flower's task API reach the workers and are rejected.

Flower 2 (flower/api/tasks.py) answers ``POST /api/task/async-apply/<task>`` with a
JSON body ``{"args": [...], "kwargs": {...}, <apply_async options>}`` by calling the
task's ``apply_async``: it does no validation of its own, so the worker's validation is
what stands between that API and the money. Basic auth is on, as in production.

Generated cases (max_examples): 80 bad bodies over every task, 20 bad bodies for
``creditcycle.repay`` alone; plus bodies Flower itself refuses (not an object, args not
a list), which must not send anything.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from store import schema as s
from store.snapshot import differences
from tests.support.badinput import CASES, business_state, seed, stored_field, wait_for_rejections
from tests.support.strategies import any_bad_payload, bad_payload

SLOW_OK = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
API = "/api/task/async-apply/"


def test_flower_task_api_submissions_with_bad_payloads_are_rejected_naming_the_field(
        fresh_postgres_url: str, workers_on: Any, flower_on: Any) -> None:
    engine = seed(fresh_postgres_url)
    stack = workers_on(fresh_postgres_url)
    flower = flower_on(stack)
    before = business_state(engine)
    sent: list[tuple[str, str, str, dict[str, Any]]] = []

    def post(task: str, kwargs: dict[str, Any], args: list[Any], field: str) -> None:
        body: dict[str, Any] = {"kwargs": kwargs}
        if args:
            body["args"] = args
        status, answer = flower.request("POST", API + task, body)
        assert status == 200, (status, answer)
        sent.append((json.loads(answer)["task-id"], task, field, body))

    @settings(max_examples=80, deadline=None, suppress_health_check=SLOW_OK, database=None)
    @given(any_bad_payload(json_only=True, with_args=True))
    def any_task(payload: tuple[str, dict[str, Any], list[Any], str]) -> None:
        post(*payload)

    @settings(max_examples=20, deadline=None, suppress_health_check=SLOW_OK, database=None)
    @given(bad_payload("creditcycle.repay", json_only=True, with_args=True))
    def repay(payload: tuple[dict[str, Any], list[Any], str]) -> None:
        post("creditcycle.repay", *payload)

    any_task()
    repay()
    # the examples of the issue, spelled out
    post("creditcycle.repay", {"user": "u0000001", "amount": -5, "reference": "r1"}, [],
         "amount")
    post("creditcycle.repay", {"user": "u0000001", "amount": 5, "reference": "r2",
                               "date": "2026-02-30"}, [], "date")
    post("creditcycle.repay", {"user": "nobody", "amount": 5, "reference": "r3"}, [], "user")
    for falsy in ([], 0, "", False):  # Celery sends ``kwargs or {}``: an empty payload
        post("creditcycle.repay", falsy, [], "user")  # type: ignore[arg-type]

    rows = wait_for_rejections(engine, [t for t, *_ in sent])
    missing = [body for t, _, _, body in sent if t not in rows]
    assert not missing, f"{len(missing)} submissions left no rejection row: {missing[:3]}"
    for task_id, task, field, body in sent:
        assert rows[task_id].task == task
        assert rows[task_id].field == stored_field(field), (body, rows[task_id].reason)
    CASES["flower task api"] += len(sent)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.task_failures)).scalar() == 0
    assert differences(before, business_state(engine)) == []


def test_bodies_flower_cannot_use_are_refused_before_anything_is_sent(
        fresh_postgres_url: str, workers_on: Any, flower_on: Any, redis_url: str) -> None:
    engine = seed(fresh_postgres_url)
    stack = workers_on(fresh_postgres_url)
    flower = flower_on(stack)
    before = business_state(engine)
    client = redis.Redis.from_url(redis_url)
    not_object = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10),
                           st.lists(st.integers(), max_size=3))

    @settings(max_examples=40, deadline=None, database=None)
    @given(st.one_of(
        not_object.map(lambda v: json.dumps(v).encode()),
        st.builds(lambda v: json.dumps({"kwargs": v}).encode(), not_object.filter(bool)),
        st.builds(lambda v: json.dumps({"args": v, "kwargs": {}}).encode(),
                  st.one_of(st.integers(), st.text(max_size=5), st.dictionaries(
                      st.text(max_size=3), st.integers(), max_size=2))),
        st.binary(min_size=1, max_size=20).filter(lambda b: not _json(b)),
    ))
    def case(raw: bytes) -> None:
        status, answer = flower.request("POST", API + "creditcycle.repay", raw=raw)
        assert status in (400, 500), (raw, status, answer)
        CASES["flower task api: unusable body"] += 1

    case()
    assert client.llen("cycle") == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.rejections)).scalar() == 0
    assert differences(before, business_state(engine)) == []


def _json(raw: bytes) -> bool:
    try:
        value = json.loads(raw)
    except ValueError:
        return False
    return isinstance(value, dict)
