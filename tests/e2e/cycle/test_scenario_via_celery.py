"""A story run through real workers ends exactly where the in-process run ends."""

from __future__ import annotations

import json

import pytest

from drills.scenario_celery import run_scenario_via_celery
from tests.support.paths import ROOT
from workers.scenario import run_scenario

EXAMPLES = ROOT / "examples"


@pytest.mark.parametrize("name", ["card-timeout-debited", "late-after-grace",
                                  "application-expired"])
def test_a_scenario_through_celery_workers_gives_the_in_process_result(
        name: str, redis_url: str, fresh_postgres_url: str) -> None:
    data = json.loads((EXAMPLES / f"{name}.json").read_text())
    inline = run_scenario(data)
    via_celery = run_scenario_via_celery(data, database_url=fresh_postgres_url,
                                         redis_url=redis_url)
    assert via_celery == inline
