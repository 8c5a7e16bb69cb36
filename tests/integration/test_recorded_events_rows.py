"""An event ``events.record`` accepted is one ``events`` row holding its key, the digest of
what was sent, when it was recorded and its outcome (migration 0013 merged the
``recorded_keys`` table into it); the keys recorded before the upgrade keep guarding."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    String,
    column,
    create_engine,
    insert,
    inspect,
    select,
    table,
)

from domain import intake
from domain.commands import InputError
from domain.config import ProductConfig
from store import events as event_rows
from store import schema as s
from store.engine import MIGRATIONS, database_url, make_engine, migrate
from workers import ingest_batches

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 16, 0, 30, tzinfo=ZONE)
AT = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)  # when the old rows were recorded
CONFIG = ProductConfig()
OLD_KEYS = table("recorded_keys", column("key", String), column("digest", String),
                 column("at", DateTime(timezone=True)), column("user_id", String),
                 column("kind", String), column("outcome", String))
OLD_EVENTS = table("events", column("day", Date), column("user_id", String),
                   column("kind", String), column("key", String), column("payload", JSON))
PAYMENT = {"key": "k1", "kind": "payment", "user": "u1",
           "occurred_at": "2026-06-15T12:00:00+08:00"}
TOPUP = {"key": "k2", "kind": "wallet_topup", "user": "u1", "amount": 5000,
         "occurred_at": "2026-06-15T12:00:00+08:00"}


def _upgrade_to(url: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url(url))
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, revision)


def _record(url: str, *items: dict[str, object]) -> ingest_batches.Recorded:
    engine = make_engine(url)
    try:
        batch = intake.parse_records(list(items), now=NOW, zone=CONFIG.time_zone,
                                     late_event_days=7)
        with engine.begin() as conn:
            return ingest_batches.record_events(conn, batch, NOW, CONFIG)
    finally:
        engine.dispose()


def _user(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(s.users).values(id="u1", score=700, credit_limit=100_000))
    engine.dispose()


def test_the_keys_recorded_before_the_upgrade_move_onto_their_events_rows_and_still_guard(
        db_url: str) -> None:
    _upgrade_to(db_url, "0012")
    engine = create_engine(database_url(db_url))
    with engine.begin() as conn:
        conn.execute(insert(OLD_EVENTS), [
            {"day": date(2026, 6, 15), "user_id": "u1", "kind": "payment", "key": "rec:k1",
             "payload": {"kind": "payment"}},
            {"day": date(2026, 6, 15), "user_id": "u1", "kind": "repay", "key": "rec:k3",
             "payload": {"kind": "repay"}},
            {"day": date(2026, 6, 15), "user_id": "u1", "kind": "repay", "key": "repay:r1",
             "payload": {"kind": "repay"}}])
        conn.execute(insert(OLD_KEYS), [
            {"key": "k1", "digest": intake.digest(PAYMENT), "at": AT, "user_id": "u1",
             "kind": "payment", "outcome": "applied"},
            {"key": "k3", "digest": "d" * 64, "at": AT, "user_id": "u1", "kind": "repay",
             "outcome": "UNKNOWN_LOAN"},
            # a key without its events row (never written so): kept, dated by its instant
            {"key": "k4", "digest": "e" * 64, "at": AT, "user_id": "u1", "kind": "job_loss",
             "outcome": "applied"}])
    engine.dispose()
    migrate(db_url)
    engine = make_engine(db_url)
    e = s.events.c
    with engine.connect() as conn:
        assert "recorded_keys" not in inspect(conn).get_table_names()
        rows = {r.key: (r.day, r.digest, r.at, r.outcome) for r in conn.execute(
            select(e.key, e.day, e.digest, e.at, e.outcome))}
        assert event_rows.outcomes(conn, ["k1", "k3", "k4", "k5"]) == {
            "k1": "applied", "k3": "UNKNOWN_LOAN", "k4": "applied"}
    engine.dispose()
    assert rows == {
        "rec:k1": (date(2026, 6, 15), intake.digest(PAYMENT), AT, "applied"),
        "rec:k3": (date(2026, 6, 15), "d" * 64, AT, "UNKNOWN_LOAN"),
        "rec:k4": (date(2026, 6, 15), "e" * 64, AT, "applied"),
        "repay:r1": (date(2026, 6, 15), None, None, None)}
    _user(db_url)
    done = _record(db_url, PAYMENT, TOPUP)  # k1 as before: already recorded
    assert (done.applied, done.already) == (1, 1)
    with pytest.raises(InputError) as exc:
        _record(db_url, {**PAYMENT, "kind": "transfer"})
    assert exc.value.field == "events[0].key" and "KEY_REUSED" in exc.value.message


def test_an_accepted_event_is_one_row_with_what_was_sent_its_digest_and_its_outcome(
        db_url: str) -> None:
    migrate(db_url)
    _user(db_url)
    # the longest key a caller may send, on a signal (a money event's journal key is longer
    # still: ``wallet_topup:rec:`` and the key, more than the journals' 200 characters)
    long_key = {**PAYMENT, "key": "k" * 200, "kind": "transfer"}
    refused = {"key": "r1", "kind": "repay", "user": "u1", "amount": 100, "loan": "nope"}
    done = _record(db_url, TOPUP, long_key, refused)
    assert (done.applied, len(done.refused)) == (2, 1)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = {r.key: r for r in conn.execute(select(s.events))}
    engine.dispose()
    assert sorted(rows) == sorted(["rec:" + "k" * 200, "rec:k2", "rec:r1"])
    topup = rows["rec:k2"]
    assert (topup.digest, topup.outcome, topup.day) == (
        intake.digest(TOPUP), "applied", NOW.date())  # money: dated when recorded
    assert topup.payload == TOPUP  # the item as sent
    assert abs(topup.at - NOW) < timedelta(seconds=1)
    signal = rows["rec:" + "k" * 200]
    assert (signal.day, signal.digest, signal.outcome) == (
        date(2026, 6, 15), intake.digest(long_key), "applied")  # dated when it occurred
    assert (rows["rec:r1"].digest, rows["rec:r1"].outcome) == (intake.digest(refused),
                                                               "UNKNOWN_LOAN")
