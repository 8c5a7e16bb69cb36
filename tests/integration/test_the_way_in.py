"""The way in (SPEC 12-13): users.upsert and events.record through the Python API.

Every batch is checked whole first: a bad one is a rejected task naming the item
and field, and a snapshot of every table shows that only ``rejections`` changed.
The same key with the same content is a no-op; with other content, KEY_REUSED.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from cli import api
from domain import intake
from domain.commands import InputError
from domain.config import ProductConfig
from store import schema as s
from store.ledger_checks import check_all
from tests.support.helpers import changed_tables, count_statements, migrated_engine, snapshot
from workers import ingest_batches, runtime

ZONE = ZoneInfo("Asia/Shanghai")
ADULT = {"id": "u1", "name": "Zhang San", "phone": "13800000000", "birth_date": "1990-05-01",
         "score": 700, "limit": 2_000_000, "wallet": 10_000, "card": 50_000,
         "card_token": "tok_9f2c", "identity_expires": "2036-01-01"}


@pytest.fixture
def db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    runtime.reset()
    engine = migrated_engine(db_url)
    yield engine
    engine.dispose()
    runtime.reset()


def _ago(**delta: float) -> str:
    return (datetime.now(ZONE) - timedelta(**delta)).isoformat()


def _local(days_ago: int, hh: int, mm: int) -> str:
    day = datetime.now(ZONE).date() - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZONE).isoformat()


def _rows(engine: Engine, table: Any, *cols: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(*(table.c[c] for c in cols))
                                               .order_by(*(table.c[c] for c in cols)))]


def _ledger_holds(engine: Engine) -> bool:
    with engine.connect() as conn:
        problems = check_all(conn)
    assert problems == []
    return True


def _refused_whole(engine: Engine, task: str, field: str, **kwargs: Any) -> str:
    """Refused by the Python API (which checks before sending) and by the task itself (as
    Flower's task API or any producer reaches it): the field named, nothing changed but
    the task's rejection row."""
    before = snapshot(engine)
    with pytest.raises(InputError) as exc:
        api.run_here(task, **kwargs)
    assert exc.value.field == field, str(exc.value)
    assert changed_tables(before, snapshot(engine)) in ([], ["rejections"])
    import workers.tasks  # noqa: F401  (registers the tasks)
    from workers.celery_app import app

    result = app.tasks[task].apply(kwargs=kwargs)
    assert result.state == "REJECTED"
    assert str(result.result.reason).startswith(f"{field}: "), result.result.reason
    assert changed_tables(before, snapshot(engine)) == ["rejections"]
    assert _rows(engine, s.rejections, "task", "field")[-1] == (task, field)
    return exc.value.message


def test_users_upsert_creates_users_with_opening_journals_and_then_changes_only_what_it_may(
        db: Engine) -> None:
    out = api.run_here("creditcycle.users.upsert", users=[ADULT, {"id": "u2"}])
    assert out == {"created": 2, "updated": 0}
    assert _ledger_holds(db)
    again = api.run_here("creditcycle.users.upsert", users=[
        {**ADULT, "score": 350, "limit": 0, "wallet": 1, "name": "Li Si",
         "identity_verified": False}])
    assert again == {"created": 0, "updated": 1}
    assert _rows(db, s.users, "id", "name", "score", "credit_limit", "wallet",
                 "identity_verified", "card_token") == [
        ("u1", "Li Si", 700, 2_000_000, 10_000, False, "tok_9f2c"),
        ("u2", "", 600, 0, 0, True, None)]
    assert _rows(db, s.sim_bank_accounts, "user_id", "balance") == [("u1", 50_000), ("u2", 0)]


@pytest.mark.parametrize(("user", "field"), [
    ({"id": "u1", "name": "11010519491231002X"}, "users[1].name"),
    ({"id": "u1", "card_token": "4111111111111111"}, "users[1].card_token"),
    ({"id": "u1", "id_number": "x"}, "users[1].id_number"),
    ({"id": "u1", "birth_date": "1990-02-30"}, "users[1].birth_date"),
    ({"id": "u 1"}, "users[1].id"),
])
def test_a_bad_user_refuses_the_whole_batch_by_name(db: Engine, user: dict[str, Any],
                                                    field: str) -> None:
    _refused_whole(db, "creditcycle.users.upsert", field, users=[{"id": "u0"}, user])


def test_events_record_applies_each_kind_once_and_a_second_sending_is_a_no_op(
        db: Engine) -> None:
    api.run_here("creditcycle.users.upsert", users=[ADULT])
    batch = [
        {"key": "e1", "kind": "wallet_topup", "user": "u1", "amount": 5_000,
         "occurred_at": _ago(hours=1)},
        {"key": "e2", "kind": "payment", "user": "u1", "occurred_at": _ago(days=2)},
        {"key": "e3", "kind": "multi_borrowing_inquiry", "user": "u1"},
        {"key": "e4", "kind": "card_deposit", "user": "u1", "amount": 7},
    ]
    out = api.run_here("creditcycle.events.record", events=batch)
    assert out == {"applied": 4, "already_recorded": 0, "refused": []}
    assert _rows(db, s.users, "wallet") == [(15_000,)]
    assert _ledger_holds(db)
    before = snapshot(db)
    again = api.run_here("creditcycle.events.record", events=batch)
    assert again == {"applied": 0, "already_recorded": 4, "refused": []}
    assert changed_tables(before, snapshot(db)) == []


def test_a_key_sent_again_with_other_content_refuses_the_batch_key_reused(db: Engine) -> None:
    api.run_here("creditcycle.users.upsert", users=[ADULT])
    api.run_here("creditcycle.events.record", events=[
        {"key": "k1", "kind": "wallet_topup", "user": "u1", "amount": 5_000}])
    message = _refused_whole(db, "creditcycle.events.record", "events[1].key", events=[
        {"key": "k2", "kind": "payment", "user": "u1"},
        {"key": "k1", "kind": "wallet_topup", "user": "u1", "amount": 6_000}])
    assert message.startswith("KEY_REUSED")


@pytest.mark.parametrize(("bad", "field"), [
    ({"amount": 0}, "events[3].amount"),
    ({"amount": "5"}, "events[3].amount"),
    ({"kind": "teleport"}, "events[3].kind"),
    ({"user": "nobody"}, "events[3].user"),
    ({"occurred_at": "2099-01-01T00:00:00+08:00"}, "events[3].occurred_at"),
    ({"occurred_at": "no"}, "events[3].occurred_at"),
    ({"occurred_at": "2026-01-01T00:00:00"}, "events[3].occurred_at"),
    ({"date": "2026-01-01"}, "events[3].date"),
    ({"key": ""}, "events[3].key"),
    ({"reference": "6222 0212 3456 7890 128"}, "events[3].reference"),
])
def test_one_bad_event_refuses_the_batch_naming_it_and_nothing_changes(
        db: Engine, bad: dict[str, Any], field: str) -> None:
    api.run_here("creditcycle.users.upsert", users=[ADULT])
    good = [{"key": f"g{i}", "kind": "payment", "user": "u1"} for i in range(3)]
    event = {"key": "b", "kind": "repay", "user": "u1", "amount": 100, **bad}
    _refused_whole(db, "creditcycle.events.record", field, events=[*good, event])


def test_an_event_older_than_late_event_days_is_refused_and_one_just_inside_is_not(
        db: Engine) -> None:
    api.run_here("creditcycle.users.upsert", users=[ADULT])
    message = _refused_whole(db, "creditcycle.events.record", "events[0].occurred_at",
                             events=[{"key": "old", "kind": "payment", "user": "u1",
                                      "occurred_at": _ago(days=7, minutes=1)}])
    assert "late_event_days" in message
    out = api.run_here("creditcycle.events.record", events=[
        {"key": "ok", "kind": "payment", "user": "u1", "occurred_at": _ago(days=6, hours=23)}])
    assert out["applied"] == 1


def test_an_application_waits_for_its_audit_and_an_approved_audit_in_hours_disburses(
        db: Engine) -> None:
    api.run_here("creditcycle.users.upsert", users=[ADULT])
    out = api.run_here("creditcycle.events.record", events=[
        {"key": "a1", "kind": "apply", "user": "u1", "loan": "L1", "principal": 300_000,
         "annual_rate_bp": 1800, "term_months": 6, "occurred_at": _local(2, 7, 0)},
        {"key": "a2", "kind": "audit", "user": "u1", "loan": "L1", "outcome": "approved",
         "occurred_at": _local(2, 7, 59)},
        {"key": "a3", "kind": "audit", "user": "u1", "loan": "L1", "outcome": "approved",
         "occurred_at": _local(2, 8, 0)},
        {"key": "a4", "kind": "apply", "user": "u1", "loan": "L1", "principal": 1,
         "annual_rate_bp": 0, "term_months": 1, "occurred_at": _local(2, 9, 0)}])
    assert [(r["kind"], r["reason"]) for r in out["refused"]] == [
        ("audit", "AUDIT_HOURS"), ("apply", "DUPLICATE_APPLICATION")]
    assert _rows(db, s.loan_applications, "id", "status", "reason") == [
        ("L1", "disbursed", None)]
    assert _rows(db, s.loans, "id", "principal") == [("L1", 300_000)]
    assert _ledger_holds(db)


def test_an_underage_applicant_is_refused_and_an_audit_at_48_hours_is_expired(
        db: Engine) -> None:
    now = datetime.now(ZONE)
    minor = (now.date().replace(year=now.year - 17)).isoformat()
    api.run_here("creditcycle.users.upsert", users=[ADULT, {"id": "u2", "birth_date": minor,
                                                             "limit": 1_000_000}])
    apply_at = (now - timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    out = api.run_here("creditcycle.events.record", events=[
        {"key": "m1", "kind": "apply", "user": "u2", "loan": "L2", "principal": 1_000,
         "annual_rate_bp": 0, "term_months": 1, "occurred_at": apply_at.isoformat()},
        {"key": "x1", "kind": "apply", "user": "u1", "loan": "L3", "principal": 1_000,
         "annual_rate_bp": 0, "term_months": 1, "occurred_at": apply_at.isoformat()},
        {"key": "x2", "kind": "audit", "user": "u1", "loan": "L3", "outcome": "approved",
         "occurred_at": (apply_at + timedelta(hours=48)).isoformat()}])
    assert [(r["loan_id"], r["reason"]) for r in out["refused"]] == [
        ("L2", "AGE_OUT_OF_RANGE"), ("L3", "APPLICATION_EXPIRED")]
    assert _rows(db, s.loan_applications, "id", "status", "reason") == [
        ("L2", "refused", "AGE_OUT_OF_RANGE"), ("L3", "cancelled", "APPLICATION_EXPIRED")]
    assert _rows(db, s.loans, "id") == []


def test_the_hourly_job_cancels_an_application_48_hours_old(db: Engine) -> None:
    api.run_here("creditcycle.users.upsert", users=[ADULT])
    api.run_here("creditcycle.events.record", events=[
        {"key": "old", "kind": "apply", "user": "u1", "loan": "L1", "principal": 1_000,
         "annual_rate_bp": 0, "term_months": 1, "occurred_at": _ago(hours=48)},
        {"key": "new", "kind": "apply", "user": "u1", "loan": "L2", "principal": 1_000,
         "annual_rate_bp": 0, "term_months": 1, "occurred_at": _ago(hours=47)}])
    assert api.run_here("creditcycle.applications.expire") == {"cancelled": 1}
    assert _rows(db, s.loan_applications, "id", "status") == [
        ("L1", "cancelled"), ("L2", "awaiting_audit")]


def test_a_batch_of_a_thousand_signals_is_written_with_a_handful_of_statements(
        db: Engine) -> None:
    users = [{"id": f"u{k:04d}"} for k in range(1000)]
    api.run_here("creditcycle.users.upsert", users=users)
    config, now = ProductConfig(), datetime.now(ZONE)
    kinds = ("payment", "flagged_contact", "wallet_topup", "card_deposit", "fund_deposit")
    raw = [{"key": f"s{k}", "kind": kinds[k % 5], "user": f"u{k // 2:04d}",
            **({"amount": 100 + k} if k % 5 > 1 else {})} for k in range(1000)]
    batch = intake.parse_records(raw, now=now, zone=config.time_zone, late_event_days=7)
    with count_statements(db) as log, db.begin() as conn:
        out = ingest_batches.record_events(conn, batch, now, config)
    assert out.applied == 1000
    assert log.count <= 10, log.statements
    assert _ledger_holds(db)
    with db.connect() as conn:
        wallets = sum(conn.execute(select(s.users.c.wallet)).scalars())
        cards = sum(conn.execute(select(s.sim_bank_accounts.c.balance)).scalars())
    assert (wallets, cards) == (sum(100 + k for k in range(1000) if k % 5 == 2),
                                sum(100 + k for k in range(1000) if k % 5 == 3))


def test_a_second_payment_on_a_day_already_active_records_the_event_but_rewrites_no_user(
        db: Engine) -> None:
    api.run_here("creditcycle.users.upsert", users=[ADULT])
    first = {"key": "p1", "kind": "payment", "user": "u1", "occurred_at": _ago(minutes=30)}
    api.run_here("creditcycle.events.record", events=[first])
    with db.connect() as conn:
        stored = conn.execute(select(s.users.c.activity, s.users.c.next_recalc)).one()
    config, now = ProductConfig(), datetime.now(ZONE)
    batch = intake.parse_records([{**first, "key": "p2"}], now=now, zone=config.time_zone,
                                 late_event_days=7)
    with count_statements(db) as log, db.begin() as conn:
        out = ingest_batches.record_events(conn, batch, now, config)
    assert out.applied == 1
    assert not [x for x in log.statements if x.lstrip().upper().startswith("UPDATE USERS")]
    with db.connect() as conn:
        assert conn.execute(select(s.users.c.activity, s.users.c.next_recalc)).one() == stored
        assert conn.execute(select(s.events.c.key).where(
            s.events.c.key == "rec:p2")).scalar_one() == "rec:p2"


def _cli(*args: str, url: str) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from cli.main import main

    result = CliRunner().invoke(main, [*args, "--database-url", url],
                                env={"REDIS_URL": None, "DATABASE_URL": url})
    return result.exit_code, result.stdout, result.stderr


def test_the_cli_records_a_file_in_batches_and_names_a_bad_line_before_sending_anything(
        db: Engine, db_url: str, tmp_path: Any) -> None:
    import json

    users = tmp_path / "users.jsonl"
    users.write_text("".join(json.dumps({"id": f"u{k}", "limit": 100_000}) + "\n"
                             for k in range(5)))
    assert _cli("users", "upsert", str(users), url=db_url)[0] == 0
    lines = [{"key": f"k{k}", "kind": "payment", "user": f"u{k % 5}"} for k in range(7)]
    good = tmp_path / "events.jsonl"
    good.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + json.dumps({"key": "z", "kind": "transfer",
                                                  "user": "u1", "colour": "red"}) + "\n")
    before = snapshot(db)
    code, _, err = _cli("events", "record", str(bad), "--batch-size", "3", url=db_url)
    assert (code, err) == (2, f"error: {bad}:8: colour: unknown field\n")
    assert changed_tables(before, snapshot(db)) == []
    code, out, err = _cli("events", "record", str(good), "--batch-size", "3", url=db_url)
    assert code == 0, err
    assert json.loads(out) == {"applied": 7, "already_recorded": 0, "refused": []}
    assert "applied=7 already_recorded=0 refused=0" in err
    code, out, _ = _cli("events", "record", str(good), url=db_url)
    assert json.loads(out) == {"applied": 0, "already_recorded": 7, "refused": []}


def test_explain_says_why_an_application_was_refused_or_cancelled_and_what_to_do(
        db: Engine) -> None:
    from reports.explain import explain

    now = datetime.now(ZONE)
    minor = (now.date().replace(year=now.year - 17)).isoformat()
    api.run_here("creditcycle.users.upsert", users=[{"id": "u2", "birth_date": minor,
                                                      "limit": 1_000_000}, ADULT])
    api.run_here("creditcycle.events.record", events=[
        {"key": "m1", "kind": "apply", "user": "u2", "loan": "L2", "principal": 1_000,
         "annual_rate_bp": 0, "term_months": 1, "occurred_at": _ago(hours=1)},
        {"key": "x1", "kind": "apply", "user": "u1", "loan": "L3", "principal": 1_000,
         "annual_rate_bp": 0, "term_months": 1, "occurred_at": _ago(hours=50)}])
    api.run_here("creditcycle.applications.expire")
    minor_text = explain(db, "u2")
    assert ("The application for loan L2 of 10.00 yuan was refused: the applicant's age is "
            "outside the range") in minor_text, minor_text
    assert "eligible age only" in minor_text
    assert "借款L2（10.00元）的申请被拒绝" in explain(db, "u2", lang="zh")
    assert ("The application for loan L3 was cancelled: no video audit within 48 hours. "
            "Apply again") in explain(db, "u1")


def test_money_events_with_the_longest_keys_apply_and_their_journals_keep_them(
        db: Engine) -> None:
    api.run_here("creditcycle.users.upsert", users=[ADULT])
    long = {kind: (kind + "-" + "k" * 200)[:200] for kind in ("draw", "wallet_topup", "repay")}
    out = api.run_here("creditcycle.events.record", events=[
        {"key": long["draw"], "kind": "draw", "user": "u1", "loan": "L1", "principal": 100_000,
         "annual_rate_bp": 1800, "term_months": 3, "occurred_at": _ago(minutes=3)},
        {"key": long["wallet_topup"], "kind": "wallet_topup", "user": "u1", "amount": 500,
         "occurred_at": _ago(minutes=2)},
        {"key": long["repay"], "kind": "repay", "user": "u1", "loan": "L1",
         "amount": 100_000, "occurred_at": _ago(minutes=1)}])
    assert (out["applied"], out["refused"]) == (3, []), out
    keys = [k for (k,) in _rows(db, s.journals, "key")]
    assert all(any(long[kind] in k for k in keys) for kind in ("wallet_topup", "repay"))
    assert max(len(k) for k in keys) > 200  # the repayment's interest adjustment, on its loan
    assert _ledger_holds(db)
