"""One business date, in the deployment's time zone, for the CLI and the tasks alike; a
date that has not ended there is refused (naming ``--date`` / ``date``), and tests set
the clock (``CREDITCYCLE_NOW``) rather than skip the check."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta

import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import func, select

from cli import api
from cli.main import main
from domain.commands import InputError
from drills import testing
from drills.stack import _rebind_broker
from schedules import business_date
from store import schema as s
from store.snapshot import differences, snapshot

START = date(2026, 3, 1)
# 05:00 on 2026-03-02 in Shanghai is 21:00 on 2026-03-01 in UTC (the host's zone here):
# the business date 2026-03-01 has ended, the host's date.today() is still 2026-03-01.
EARLY_MORNING = "2026-03-01T21:00:00+00:00"


@pytest.fixture
def seeded(sqlite_url, environment):
    environment.setenv("DATABASE_URL", sqlite_url)
    environment.delenv("REDIS_URL", raising=False)
    environment.delenv("CREDITCYCLE_CONFIG", raising=False)
    engine = testing.seeded(sqlite_url, 20, START, 10)
    yield sqlite_url, engine
    engine.dispose()


@pytest.mark.parametrize(("clock", "ended"), [
    ("2026-03-01T15:59:59+00:00", False),  # 23:59:59 in Shanghai: 03-01 is still running
    ("2026-03-01T16:00:00+00:00", True),   # 00:00 in Shanghai: 03-01 has ended
    ("2026-03-02T00:00", True),            # no offset: read in the deployment's zone
    ("2026-03-01T23:00", False),
])
def test_a_business_date_has_ended_only_once_midnight_has_passed_in_the_deployment_zone(
        monkeypatch, clock, ended):
    monkeypatch.setenv("CREDITCYCLE_NOW", clock)
    if ended:
        business_date.require_ended(START, "Asia/Shanghai", "date")
    else:
        with pytest.raises(InputError) as err:
            business_date.require_ended(START, "Asia/Shanghai", "date")
        assert err.value.field == "date"
        assert "has not ended in Asia/Shanghai" in err.value.message


def test_the_cycle_task_refuses_a_date_that_has_not_ended_and_changes_nothing(seeded,
                                                                               monkeypatch):
    _url, engine = seeded
    monkeypatch.setenv("CREDITCYCLE_NOW", "2026-03-01T12:00")
    with engine.connect() as conn:
        before = snapshot(conn)
    for day in (START, START + timedelta(days=12)):
        with pytest.raises(InputError) as err:
            api.run_here("creditcycle.cycle.run", date=day.isoformat())
        assert err.value.field == "date"
        assert "has not ended" in err.value.message
    with engine.connect() as conn:
        assert differences(before, snapshot(conn)) == []
        r = s.rejections.c
        assert conn.execute(select(func.count()).select_from(s.rejections).where(
            r.task == "creditcycle.cycle.run", r.field == "date")).scalar_one() == 2


def test_the_cli_refuses_a_date_that_has_not_ended_naming_the_date_option(seeded, monkeypatch):
    url, engine = seeded
    monkeypatch.setenv("CREDITCYCLE_NOW", "2026-03-01T12:00")
    with engine.connect() as conn:
        before = snapshot(conn)
    out = CliRunner().invoke(main, ["cycle", "run", "--date", START.isoformat(), "--wait",
                                    "--database-url", url])
    assert out.exit_code == 2, out.output
    assert "--date" in out.output and "has not ended in Asia/Shanghai" in out.output
    assert "Traceback" not in out.output
    with engine.connect() as conn:
        assert differences(before, snapshot(conn)) == []


def test_a_daytime_attempt_of_a_future_date_is_refused_naming_date(seeded, monkeypatch):
    _url, _engine = seeded
    monkeypatch.setenv("CREDITCYCLE_NOW", "2026-03-02T07:00")
    with pytest.raises(InputError) as err:
        api.run_here("creditcycle.deduct.attempt", at="06:00", date="2026-03-03")
    assert err.value.field == "date"


def test_the_cycle_task_defaults_to_yesterday_in_the_deployment_zone_not_the_hosts(
        seeded, monkeypatch, redis_url):
    _url, _engine = seeded
    monkeypatch.setenv("CREDITCYCLE_NOW", EARLY_MORNING)
    monkeypatch.setenv("REDIS_URL", redis_url)
    _rebind_broker(redis_url)
    result = api.run_here("creditcycle.cycle.run")
    assert result["target"] == "2026-03-01"
    client = redis.Redis.from_url(redis_url)
    client.delete("cycle")
    client.close()


def test_the_cli_default_date_is_the_tasks_default_business_date(seeded, monkeypatch,
                                                                  redis_url):
    url, _engine = seeded
    monkeypatch.setenv("CREDITCYCLE_NOW", EARLY_MORNING)
    monkeypatch.setenv("REDIS_URL", redis_url)
    client = redis.Redis.from_url(redis_url)
    client.delete("cycle")
    _rebind_broker(redis_url)
    out = CliRunner().invoke(main, ["cycle", "run", "--database-url", url])
    assert out.exit_code == 0, out.output
    messages = [json.loads(m) for m in client.lrange("cycle", 0, -1)]
    client.delete("cycle")
    client.close()
    sent = [json.loads(base64.b64decode(m["body"])) for m in messages]
    assert [kwargs for _args, kwargs, _embed in sent] == [{"date": "2026-03-01"}]


def test_a_clock_that_is_not_a_date_and_time_is_refused_naming_its_variable(seeded,
                                                                            monkeypatch):
    url, _ = seeded
    monkeypatch.setenv("CREDITCYCLE_NOW", "soon")
    out = CliRunner().invoke(main, ["cycle", "run", "--wait", "--database-url", url])
    assert out.exit_code == 2, out.output
    assert "CREDITCYCLE_NOW" in out.output and "Traceback" not in out.output
