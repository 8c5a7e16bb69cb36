"""The chunks of a step run in parallel (one Celery task each): the night ends in the same
state as when they run one after another, on SQLite and on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, select

from store import cycle_plan as plans
from store import schema as s
from store.ledger_checks import check_all
from store.snapshot import WRITE_ORDER
from tests.support.helpers import migrated_engine
from workers.bank import SimulatedBank

from .test_steps_idempotent import CLOSE, D, seed

# Surrogate keys, clock times and a chunk's own count of the rows it wrote (a copy that
# finds the other copy's intents counts only its half) depend on who commits first.
UNORDERED = {"id", "started_at", "finished_at", "done_at", "at", "rows"}


def state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with engine.connect() as conn:
        for table in s.metadata.sorted_tables:
            cols = [c for c in table.c if c.name not in UNORDERED
                    and (table.name, c.name) not in WRITE_ORDER]
            out[table.name] = sorted((tuple(r) for r in conn.execute(select(*cols))), key=repr)
    return out


def night(url: str, parallel: bool, copies: int = 1) -> dict[str, list[tuple[Any, ...]]]:
    engine = migrated_engine(url)
    try:
        config = seed(engine)
        bank = SimulatedBank(engine)
        with engine.begin() as conn:
            chunks = plans.plan_chunks(conn, D, config.chunk_size)
        with ThreadPoolExecutor(max_workers=len(chunks) * copies) as pool:
            for _, run in CLOSE:
                if parallel:
                    list(pool.map(lambda chunk, r=run: r(engine, config, bank, [chunk]),
                                  chunks * copies))
                else:
                    run(engine, config, bank, chunks)
        with engine.connect() as conn:
            assert check_all(conn) == []
        return state(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("copies", [1, 2])
def test_chunks_run_in_parallel_end_the_night_as_chunks_run_one_by_one(
        db_url: str, tmp_path: Any, request: Any, copies: int) -> None:
    """copies=2: every chunk message is delivered twice, both copies running at once."""
    if db_url.startswith("sqlite"):
        other = f"sqlite:///{tmp_path}/serial.db"
    else:
        other = request.getfixturevalue("postgres_server").create_database()
    try:
        parallel = night(db_url, parallel=True, copies=copies)
        serial = night(other, parallel=False)
    finally:
        if not other.startswith("sqlite"):
            request.getfixturevalue("postgres_server").drop_database(other.rsplit("/", 1)[1])
    for table in serial:
        assert parallel[table] == serial[table], table
