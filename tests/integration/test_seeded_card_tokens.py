"""The seeded portfolios (demo/drills and the bench) link every user's card by an opaque
token, and the bank simulator is seeded by it (``card_balances``), never by user id."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from domain.config import ProductConfig
from domain.deduction import synthetic_card_token
from drills.bench_seed import _psql, seed_sql
from drills.seed import seed_portfolio
from store import schema as s
from store.debits import card_balances
from tests.support.helpers import migrated_engine

NIGHT = date(2026, 2, 15)


def test_the_demo_seed_gives_each_user_a_token_and_the_simulator_its_cards_by_it(
        sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    try:
        seed_portfolio(engine, 40, NIGHT)
        with engine.connect() as conn:
            tokens = dict(conn.execute(select(s.users.c.id, s.users.c.card_token)).all())
            balances = dict(conn.execute(select(s.sim_bank_accounts.c.user_id,
                                                s.sim_bank_accounts.c.balance)).all())
            cards = card_balances(conn)
    finally:
        engine.dispose()
    assert len(tokens) == 40
    assert all(t == synthetic_card_token(u) and t != u for u, t in tokens.items())
    assert sorted(cards) == sorted((tokens[u], b, False) for u, b in balances.items())


def test_the_bench_seed_makes_the_same_tokens_in_sql(fresh_postgres_url: str) -> None:
    engine = migrated_engine(fresh_postgres_url)
    try:
        seed_sql(_psql(fresh_postgres_url), 30, NIGHT, 0, ProductConfig())
        with engine.connect() as conn:
            tokens = dict(conn.execute(select(s.users.c.id, s.users.c.card_token)).all())
            cards = card_balances(conn)
    finally:
        engine.dispose()
    assert len(tokens) == 30
    assert all(t == synthetic_card_token(u) for u, t in tokens.items())
    assert {c[0] for c in cards} == set(tokens.values())
