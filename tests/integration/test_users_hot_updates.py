"""The night rewrites next_recalc (and the limit's columns) for about a third of the
users: on PostgreSQL such an update is heap-only (HOT), as no index holds those columns
and the users' pages keep room for their new versions (fillfactor 70)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text, update

from store import schema as s
from tests.support.helpers import migrated_engine, seed_portfolio


def test_a_nightly_limit_update_of_a_third_of_the_users_is_heap_only_on_postgresql(
        fresh_postgres_url: str) -> None:
    engine = migrated_engine(fresh_postgres_url)
    try:
        seed_portfolio(engine, [{"id": f"u{k:04d}", "wallet": 0, "card": 0}
                                for k in range(600)], [])
        day = date(2026, 3, 1)
        with engine.begin() as conn:
            options = conn.execute(text("SELECT reloptions FROM pg_class "
                                        "WHERE relname = 'users'")).scalar_one()
            assert options == ["fillfactor=70"]
        every_third = [f"u{k:04d}" for k in range(0, 600, 3)]
        with engine.begin() as conn:
            conn.execute(update(s.users).where(s.users.c.id.in_(every_third)).values(
                next_recalc=day + timedelta(days=30), last_recalc=day, credit_limit=5000))
            counts = conn.execute(text(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                "WHERE relname = 'users'")).one()
        assert counts == (200, 200)  # before migration 0010: (200, 0)
    finally:
        engine.dispose()
