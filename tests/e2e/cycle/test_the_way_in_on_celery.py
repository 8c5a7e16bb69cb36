"""The way in on real workers: the CLI through a broker and Flower's task API.

Users and events sent by ``creditcycle users upsert`` / ``events record`` with
``REDIS_URL`` set reach the workers and the command waits for each batch's
outcome; the same tasks posted to Flower's task API apply alike.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from cli.main import main
from store import schema as s
from store.engine import make_engine, migrate


def _cli(url: str, redis_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--database-url", url],
                                env={"REDIS_URL": redis_url, "DATABASE_URL": url})
    return result.exit_code, result.stdout, result.stderr


def test_files_go_through_the_broker_and_flower_s_task_api_applies_the_same_tasks(
        fresh_postgres_url: str, redis_url: str, make_stack: Any, flower_on: Any,
        tmp_path: Path) -> None:
    migrate(fresh_postgres_url)
    engine = make_engine(fresh_postgres_url)
    stack = make_stack(fresh_postgres_url)
    users = tmp_path / "users.jsonl"
    users.write_text("".join(json.dumps({"id": f"u{k}", "birth_date": "1990-01-01",
                                         "limit": 1_000_000}) + "\n" for k in range(3)))
    code, out, err = _cli(fresh_postgres_url, redis_url, "users", "upsert", str(users))
    assert (code, json.loads(out)) == (0, {"created": 3, "updated": 0}), err
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(x) + "\n" for x in [
        {"key": "t1", "kind": "wallet_topup", "user": "u0", "amount": 700},
        {"key": "t2", "kind": "payment", "user": "u1"},
        {"key": "t3", "kind": "draw", "user": "u2", "loan": "L9", "principal": 9_000_000,
         "annual_rate_bp": 0, "term_months": 3}]))
    code, out, err = _cli(fresh_postgres_url, redis_url, "events", "record", str(events),
                          "--batch-size", "2")
    assert code == 0, err
    assert json.loads(out) == {"applied": 2, "already_recorded": 0, "refused": [
        {"kind": "draw", "loan_id": "L9", "reason": "LIMIT_EXCEEDED", "user_id": "u2"}]}
    code, out, _ = _cli(fresh_postgres_url, redis_url, "events", "record", str(events))
    assert json.loads(out)["already_recorded"] == 3

    flower = flower_on(stack)
    status, answer = flower.request("POST", "/api/task/async-apply/creditcycle.events.record",
                                    {"kwargs": {"events": [{"key": "f1", "kind": "fund_deposit",
                                                            "user": "u1", "amount": 300}]}})
    assert status == 200, answer
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            funds = dict(conn.execute(select(s.users.c.id, s.users.c.fund)).all())
        if funds["u1"] == 300:
            break
        time.sleep(0.2)
    with engine.connect() as conn:
        wallets = dict(conn.execute(select(s.users.c.id, s.users.c.wallet)).all())
    assert (wallets["u0"], funds["u1"]) == (700, 300)
    engine.dispose()
