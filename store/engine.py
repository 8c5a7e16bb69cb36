"""Engines for SQLite (the embedded default) and PostgreSQL, and migrations.

Engines are made by the process that uses them (a worker makes its own after
fork), never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

DEFAULT_SQLITE = "sqlite:///creditcycle.db"
MIGRATIONS = Path(__file__).with_name("migrations")


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("DATABASE_URL") or DEFAULT_SQLITE


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def make_engine(url: str | None = None, *, pool_size: int = 5) -> Engine:
    url = database_url(url)
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    # A chunk's statements are short and many; PostgreSQL's JIT would spend more
    # compiling the larger ones (100+ ms each) than it saves running them, and
    # parallel workers for one chunk's read would take cores from the other chunks.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                         pool_pre_ping=True, connect_args={
                             "options": "-c jit=off -c max_parallel_workers_per_gather=0"})


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    # Turn off pysqlite's own transaction handling so BEGIN IMMEDIATE is ours:
    # a chunk takes the write lock up front instead of failing to upgrade later.
    dbapi_conn.isolation_level = None  # type: ignore[attr-defined]
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin_immediate(conn: object) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")  # type: ignore[attr-defined]


def migrate(url: str | None = None) -> None:
    """Bring the database to the newest schema (alembic upgrade head)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url(url))
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")
