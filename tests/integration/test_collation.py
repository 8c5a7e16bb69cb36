"""Ids sort as strings, byte-wise ("L10" before "L2", "B1" before "a1"), whatever the
database's default collation: a story over such ids gives the same result on SQLite and
on a PostgreSQL database created with a natural-language (ICU en-US) collation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from workers.scenario import run_scenario

IDS = ["u10", "u2", "B1", "a1", "u-1"]
LOAN = {"u10": "L10", "u2": "L2", "B1": "l3", "a1": "L-1", "u-1": "L_1"}

STORY: dict[str, Any] = {
    "config": {"chunk_size": 3},
    "agencies": ["beta", "Alpha"],
    "users": [{"id": u, "name": "Zhao Liu", "phone": "13600000000", "score": 650,
               "limit": 500000, "card": 20000 if u in ("u2", "a1") else 0} for u in IDS],
    "loans": [{"id": LOAN[u], "user": u, "principal": 90000, "annual_rate_bp": 1200,
               "term_months": 3, "disbursed": "2026-01-15"} for u in IDS],
    "events": [{"date": "2026-02-20", "user": "B1", "kind": "wallet_topup", "amount": 5000}],
    "run": {"from": "2026-02-12", "to": "2026-05-16"},
}


@pytest.fixture
def icu_postgres_url(postgres_server: Any) -> Iterator[str]:
    name = "cc_icu_en_us"
    postgres_server.drop_database(name)
    postgres_server.execute_autocommit(
        f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu "
        "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
    try:
        yield postgres_server.url_for(name)
    finally:
        postgres_server.drop_database(name)


def test_a_story_over_ids_that_sort_differently_by_language_gives_the_same_result(
        sqlite_url: str, icu_postgres_url: str) -> None:
    on_sqlite = run_scenario(STORY, database_url=sqlite_url)
    on_postgres = run_scenario(STORY, database_url=icu_postgres_url)
    for section in on_sqlite:
        assert on_sqlite[section] == on_postgres[section], section
    handoffs = [h["loan"] for h in on_postgres["handoffs"]]
    assert handoffs == sorted(handoffs, key=str.encode)
    assert len(handoffs) >= 3
