"""Card debits of an older database carry on after the upgrade: a debit made before
``bank_debits.card_token`` (migration 0011) keeps the token it was sent with, the user id."""

from __future__ import annotations

from datetime import date

from sqlalchemy import create_engine, select, text

from store import schema as s
from store.engine import database_url, migrate
from tests.integration.test_cycle_rows_migration import _upgrade_to

D = date(2026, 3, 10)


def test_a_debit_made_before_the_card_token_keeps_the_user_id_it_was_sent_with(
        db_url: str) -> None:
    _upgrade_to(db_url, "0010")
    engine = create_engine(database_url(db_url))
    with engine.begin() as conn:  # the table as it was: no card_token column yet
        for key, user, status in (("k1", "u1", "intent"), ("k2", "u2", "debited")):
            conn.execute(text("INSERT INTO bank_debits (key, user_id, day, attempt, amount,"
                              " status, taken) VALUES (:k, :u, :d, 'cob', 100, :st, 0)"),
                         {"k": key, "u": user, "d": D, "st": status})
    migrate(db_url)
    b = s.bank_debits.c
    with engine.connect() as conn:
        got = conn.execute(select(b.key, b.card_token).order_by(b.key)).all()
    engine.dispose()
    assert [tuple(r) for r in got] == [("k1", "u1"), ("k2", "u2")]
