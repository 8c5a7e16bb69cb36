"""On PostgreSQL a chunk's writes are one statement per table as the server sees them:
an executemany, which SQLAlchemy's statement events count once, is one statement per
row on the server (psycopg sends each parameter set as its own execution). Counted here
as the server runs them: a small chunk's updates go as one ``UPDATE ... FROM (VALUES
...)``, a larger one's by COPY (which the count does not see: never more statements for
more rows); new rows go by COPY at any size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event, update

from drills.postgres_server import PostgresServer
from store import schema as s
from tests.integration.test_set_based import D, portfolio, run
from tests.support.helpers import migrated_engine
from workers.bank import PENDING, DebitRequest, SimulatedBank


@contextmanager
def server_executions(engine: Engine) -> Iterator[list[str]]:
    """Each statement the server executes while the block runs: an executemany of n
    parameter sets counts n times."""
    log: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
               executemany: bool) -> None:
        log.extend([statement] * (len(parameters) if executemany else 1))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)


@contextmanager
def fresh_engine(server: PostgresServer) -> Iterator[Engine]:
    url = server.create_database()
    engine = migrated_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        server.drop_database(url.rsplit("/", 1)[1])


def deduct_executions(server: PostgresServer, n: int) -> list[str]:
    with fresh_engine(server) as engine:
        config = portfolio(engine, n)
        with server_executions(engine) as log:
            run(engine, config, "deduct", "u0000", f"u{n - 1:04d}")
        return log


def test_a_deduct_chunk_of_15_or_150_users_runs_as_many_statements_on_the_server_as_one_of_3(
        postgres_server: PostgresServer) -> None:
    # 3 and 15 users: updates by VALUES; 150: by COPY (COPY_THRESHOLD in between).
    small, medium, large = (deduct_executions(postgres_server, n) for n in (3, 15, 150))
    # Wallet, card intents, the bank's answers, postings, journals, users, loans: each
    # table written once per phase, whatever the number of users.
    assert len(small) >= 10
    assert len(medium) <= len(small), "\n".join(medium)
    assert len(large) <= len(small), "\n".join(large)


def resolve_executions(server: PostgresServer, n: int) -> tuple[list[str], list[str]]:
    """The simulated bank's statements for answering n pending debits (all timed out on
    D, each resolving debited when asked), and the outcomes it gives."""
    with fresh_engine(server) as engine:
        portfolio(engine, n)
        with engine.begin() as conn:
            conn.execute(update(s.sim_bank_accounts).values(timeout_day=D))
        bank = SimulatedBank(engine)
        requests = [DebitRequest(f"k{k:04d}", f"u{k:04d}", 300, D, card_token=f"t{k}")
                    for k in range(n)]
        assert {r.status for r in bank.debit(requests)} == {PENDING}
        with server_executions(engine) as log:
            answers = bank.query([q.key for q in requests])
        assert [(a.key, a.status, a.taken) for a in answers] == [
            (q.key, "debited", 300) for q in requests]
        with engine.connect() as conn:
            stored = conn.execute(s.sim_bank_requests.select()
                                  .order_by(s.sim_bank_requests.c.key)).all()
            cards = conn.execute(s.sim_bank_accounts.select()).all()
        assert [(r.outcome, r.taken) for r in stored] == [("debited", 300)] * n
        assert {c.balance for c in cards} == {700}
        return log, [a.status for a in answers]


def test_the_simulated_bank_resolves_150_pending_debits_in_as_many_statements_as_3(
        postgres_server: PostgresServer) -> None:
    small, _ = resolve_executions(postgres_server, 3)
    large, statuses = resolve_executions(postgres_server, 150)
    assert statuses == ["debited"] * 150
    assert len(large) <= len(small), "\n".join(large)
