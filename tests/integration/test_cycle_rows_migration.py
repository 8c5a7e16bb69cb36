"""Cycle rows of an older database carry on after the upgrade: a close row whose
catch-up target was kept in its detail text (before 0004) gets it in its column."""

from __future__ import annotations

from datetime import date

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, insert, select

from store import schema as s
from store.engine import MIGRATIONS, database_url, migrate

D = date(2026, 3, 10)


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
        conn.execute(insert(s.cycle_runs), [
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
