"""Cycle rows of an older database carry on after the upgrade: a close row whose
catch-up target was kept in its detail text (before 0004) gets it in its column; a step
label (``deduct@0600``, ``limit#release``, before 0010) becomes its typed fields."""

from __future__ import annotations

from datetime import date

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Date, Integer, String, Text, column, create_engine, insert, select, table
from sqlalchemy.exc import IntegrityError

from domain.steps import CLOSE, Step
from store import schema as s
from store.engine import MIGRATIONS, database_url, migrate

D = date(2026, 3, 10)
# The cycle rows as they were before 0010: the step named by one label.
OLD_RUNS = table("cycle_runs", column("day", Date), column("step", String),
                 column("status", String), column("total", Integer), column("done", Integer),
                 column("detail", Text), column("target", Date))
OLD_CHUNKS = table("chunk_runs", column("day", Date), column("step", String),
                   column("chunk_no", Integer), column("attempts", Integer))
OLD_HELD = table("held_users", column("day", Date), column("user_id", String),
                 column("step", String), column("chunk_no", Integer))


def _upgrade_to(url: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url(url))
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, revision)


def test_a_target_kept_in_the_detail_of_an_old_close_row_moves_to_its_column(
        db_url: str) -> None:
    _upgrade_to(db_url, "0005")
    engine = create_engine(database_url(db_url))
    rows = [("running", "target=2026-03-12", None),
            ("done_with_exceptions", "target=2026-03-12; held users: u1, u2", None),
            ("done", "seeded", None), ("done", None, date(2026, 3, 20))]
    with engine.begin() as conn:
        conn.execute(insert(OLD_RUNS), [
            {"day": date(2026, 3, n), "step": "close", "status": status, "total": 1, "done": 0,
             "detail": detail, "target": target}
            for n, (status, detail, target) in enumerate(rows, 10)])
    migrate(db_url)
    c = s.cycle_runs.c
    with engine.connect() as conn:
        got = [(r.detail, r.target) for r in conn.execute(
            select(c.detail, c.target).order_by(c.day))]
    engine.dispose()
    assert got == [(None, date(2026, 3, 12)), ("held users: u1, u2", date(2026, 3, 12)),
                   ("seeded", None), (None, date(2026, 3, 20))]


LABELS = {"close": (CLOSE, "", "night"), "deduct": ("deduct", "", "night"),
          "deduct@0600": ("deduct", "0600", "night"), "limit#release": ("limit", "", "release"),
          "deduct@1700#release": ("deduct", "1700", "release"),
          "reconcile_close#release": ("reconcile_close", "", "release"),
          "bureau_file": ("bureau_file", "", "night")}


def test_an_old_step_label_migrates_into_the_step_its_attempt_and_its_run(
        db_url: str) -> None:
    _upgrade_to(db_url, "0011")
    engine = create_engine(database_url(db_url))
    steps = [label for label in LABELS if label != "close"]
    with engine.begin() as conn:
        conn.execute(insert(OLD_RUNS), [{"day": D, "step": label, "status": "done", "total": 2,
                                         "done": 2} for label in LABELS])
        conn.execute(insert(OLD_CHUNKS), [{"day": D, "step": label, "chunk_no": n,
                                           "attempts": 1}
                                          for label in steps for n in (0, 1)])
        conn.execute(insert(OLD_HELD), [{"day": D, "user_id": "u1", "step": "deduct@0600",
                                         "chunk_no": 1},
                                        {"day": D, "user_id": "u2", "step": "limit#release",
                                         "chunk_no": 0}])
    migrate(db_url)
    r, k, h = s.cycle_runs.c, s.chunk_runs.c, s.held_users.c
    with engine.connect() as conn:
        runs = set(conn.execute(select(r.step, r.at, r.run)).all())
        chunks = sorted(conn.execute(select(k.step, k.at, k.run, k.chunk_no)).all())
        held = sorted(conn.execute(select(h.user_id, h.step, h.at, h.run, h.chunk_no)).all())
    engine.dispose()
    assert runs == set(LABELS.values())
    assert chunks == sorted((*LABELS[label], n) for label in steps for n in (0, 1))
    assert held == [("u1", "deduct", "0600", "night", 1), ("u2", "limit", "", "release", 0)]


@pytest.mark.parametrize(("step", "at", "run"), [
    ("deduct#release", "", "night"), ("lunch", "", "night"), ("limit", "0600", "night"),
    ("deduct", "6", "night"), ("deduct", "", "again")])
def test_a_cycle_row_naming_no_step_of_the_step_table_is_refused(
        db_url: str, step: str, at: str, run: str) -> None:
    migrate(db_url)
    engine = create_engine(database_url(db_url))
    try:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(s.chunk_runs).values(day=D, step=step, at=at, run=run,
                                                     chunk_no=0, attempts=0))
        with engine.begin() as conn:  # every name of the table is taken
            conn.execute(insert(s.cycle_runs), [
                {"day": D, "step": name, "at": "", "run": "night", "status": "done",
                 "total": 1} for name in (*Step, CLOSE)])
    finally:
        engine.dispose()
