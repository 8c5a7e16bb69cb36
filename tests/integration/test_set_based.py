"""A chunk is read and written with a fixed number of statements, whatever its size
(DESIGN: set-based reads, one bulk statement per table)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import pytest
from sqlalchemy import Engine

from domain.config import ProductConfig
from tests.support.helpers import LoanSpec, count_statements, migrated_engine, seed_portfolio
from workers import steps
from workers.bank import SimulatedBank

D = date(2026, 3, 1)


def portfolio(engine: Engine, n: int) -> ProductConfig:
    """n users, each with a loan that fell due 2026-02-15 and was never paid (DPD 15 on D),
    a second loan due on D, a little money in wallet, card and fund, and an activity event."""
    users = [{"id": f"u{k:04d}", "score": 640, "limit": 500000, "wallet": 100, "card": 1000,
              "fund": 1000, "name": "Zhang San", "phone": "13800000000"} for k in range(n)]
    loans = []
    for k in range(n):
        loans.append(LoanSpec(f"L{k:04d}a", f"u{k:04d}", 90000, 1800, 3, date(2026, 1, 15)))
        loans.append(LoanSpec(f"L{k:04d}b", f"u{k:04d}", 60000, 1800, 6, date(2025, 12, 1),
                              paid_before=D))
    events = [{"date": D.isoformat(), "user": f"u{k:04d}", "kind": "payment"}
              for k in range(n)]
    sc = seed_portfolio(engine, users, loans, events=events, agencies=["Alpha"], end=D)
    return sc.config


def run(engine: Engine, config: ProductConfig, step: str, lo: str, hi: str) -> None:
    bank = SimulatedBank(engine)
    table: dict[str, Callable[[], object]] = {
        "deduct": lambda: steps.deduct(engine, D, lo, hi, 0, config, bank),
        "overdue": lambda: steps.overdue_chunk(engine, D, lo, hi, 0, config),
        "score": lambda: steps.score_chunk(engine, D, lo, hi, 0, config),
        "limit": lambda: steps.limit_chunk(engine, D, lo, hi, 0, config),
        "collect": lambda: steps.collect_chunk(engine, D, lo, hi, 0, config),
    }
    table[step]()


ORDER = ["deduct", "overdue", "score", "limit", "collect"]


def statements_for(url: str, n: int, step: str) -> list[str]:
    engine = migrated_engine(url)
    try:
        config = portfolio(engine, n)
        lo, hi = "u0000", f"u{n - 1:04d}"
        for earlier in ORDER[:ORDER.index(step)]:
            run(engine, config, earlier, lo, hi)
        with count_statements(engine) as log:
            run(engine, config, step, lo, hi)
        return log.statements
    finally:
        engine.dispose()


@pytest.fixture
def second_url(db_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """Another fresh database on the same backend as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield db_url.replace("cc.db", "cc-large.db")
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url.rsplit("/", 1)[1])


@pytest.mark.parametrize("step", ORDER)
def test_an_overdue_chunk_of_200_users_takes_as_many_statements_as_one_of_10(
        db_url: str, second_url: str, step: str) -> None:
    small = statements_for(db_url, 10, step)
    large = statements_for(second_url, 200, step)
    assert len(small) >= 5
    # Not more statements for 20 times the users. (On PostgreSQL a large chunk's
    # bulk updates go through COPY on the driver's cursor, which SQLAlchemy's
    # statement events do not see, so the large count may be lower.)
    assert len(large) <= len(small), "\n".join(large)


def handoff_statements(url: str, n: int) -> tuple[int, int]:
    """Statements of the collect chunk and of the handoff pass on the day n loans reach
    DPD 91, each with an internal case to close (escalated) and an agency to be assigned."""
    engine = migrated_engine(url)
    try:
        users = [{"id": f"u{k:04d}", "name": "Li Si", "phone": "13912345678"} for k in range(n)]
        loans = [LoanSpec(f"L{k:04d}", f"u{k:04d}", 90000, 0, 3, date(2026, 1, 15))
                 for k in range(n)]
        config = seed_portfolio(engine, users, loans, agencies=["Alpha", "Beta"]).config
        lo, hi = "u0000", f"u{n - 1:04d}"
        dpd4, dpd91 = date(2026, 2, 18), date(2026, 5, 16)
        steps.overdue_chunk(engine, dpd4, lo, hi, 0, config)
        steps.collect_chunk(engine, dpd4, lo, hi, 0, config)
        steps.overdue_chunk(engine, dpd91, lo, hi, 0, config)
        with count_statements(engine) as collect:
            steps.collect_chunk(engine, dpd91, lo, hi, 0, config)
        with count_statements(engine) as handoff:
            assert steps.handoff_pass(engine, dpd91) == n
        return collect.count, handoff.count
    finally:
        engine.dispose()


def test_escalating_and_handing_off_200_loans_takes_as_many_statements_as_10(
        db_url: str, second_url: str) -> None:
    small, large = handoff_statements(db_url, 10), handoff_statements(second_url, 200)
    # As above: never more statements for more loans (COPY is invisible to the count).
    assert large[0] <= small[0] and large[1] <= small[1]
