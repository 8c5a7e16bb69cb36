"""Engines for SQLite (the embedded default) and PostgreSQL, and migrations.

Engines are made by the process that uses them (a worker makes its own after
fork), never at import time.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

# Connection, Engine and two error types are re-exported (``X as X``, which mypy reads as
# an explicit re-export; PLC0414 would drop it): the layers above the store name them
# without importing SQLAlchemy.
from sqlalchemy import Connection as Connection  # noqa: PLC0414
from sqlalchemy import Engine as Engine  # noqa: PLC0414
from sqlalchemy import create_engine, event, exists, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError
from sqlalchemy.exc import DBAPIError as DBAPIError  # noqa: PLC0414
from sqlalchemy.exc import OperationalError as OperationalError  # noqa: PLC0414

from domain.commands import InputError
from store import schema as s

DEFAULT_SQLITE = "sqlite:///creditcycle.db"
MIGRATIONS = Path(__file__).with_name("migrations")
# SQLAlchemy's default driver for postgresql:// is psycopg2; the project ships psycopg (3)
_PLAIN_POSTGRESQL = "postgresql://"
URL_FORMS = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


def database_url(url: str | None = None) -> str:
    """``url``, else $DATABASE_URL, else the local SQLite file; plain postgresql:// uses psycopg."""
    url = url or os.environ.get("DATABASE_URL") or DEFAULT_SQLITE
    if url.startswith(_PLAIN_POSTGRESQL):
        return "postgresql+psycopg://" + url.removeprefix(_PLAIN_POSTGRESQL)
    return url


def shown(url: URL) -> str:
    """The URL as it may be printed: with its password hidden."""
    return url.render_as_string(hide_password=True)


def check_database(url: str, *, create: bool, field: str = "--database-url") -> None:
    """Refuse, with one line naming ``field`` and what to do, a URL this program cannot use.

    A malformed URL, a dialect other than SQLite or PostgreSQL, a driver that is not
    installed, a server that does not answer; and unless ``create``, a SQLite file that
    does not exist or a database without creditcycle's tables. The check itself creates
    and writes nothing (a SQLite file is read through plain sqlite3, without our pragmas).
    """
    try:
        parsed = make_url(database_url(url))
    except ArgumentError:
        raise InputError(field, f"is not a database URL: write {URL_FORMS}") from None
    backend = parsed.get_backend_name()
    if backend == "postgres":
        raise InputError(field, f"{parsed.drivername}:// is not a database URL scheme: "
                                "write postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
    if backend not in ("sqlite", "postgresql"):
        raise InputError(field, f"{backend} databases are not supported: use SQLite or "
                                f"PostgreSQL, {URL_FORMS}")
    try:
        parsed.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError):
        raise InputError(field, f"the database driver {parsed.drivername!r} is not "
                                "installed: write postgresql+psycopg://... (psycopg is)"
                         ) from None
    if backend == "sqlite":
        _check_sqlite_file(parsed, create=create, field=field)
        return
    engine = make_engine(database_url(url))
    try:
        with engine.connect() as conn:
            if not create and not inspect(conn).has_table("cycle_runs"):
                raise _no_tables(parsed, field)
    except DBAPIError as exc:
        raise InputError(field, f"cannot use database {shown(parsed)}: {_first_line(exc.orig)}"
                                ": start the server or fix the URL") from None
    finally:
        engine.dispose()


def failure_reason(exc: BaseException) -> str | None:
    """The driver's first line when ``exc`` is the database failing under a command (it
    went away, refused, timed out); None for any other exception. Never the statement or
    its parameters."""
    if isinstance(exc, OperationalError | InterfaceError):
        return _first_line(exc.orig)
    return None


def _first_line(exc: BaseException | None) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _no_tables(parsed: URL, field: str) -> InputError:
    return InputError(field, f"database {shown(parsed)} has no creditcycle tables: create "
                             "them with `creditcycle migrate` (or `seed`)")


def _check_sqlite_file(parsed: URL, *, create: bool, field: str) -> None:
    name = parsed.database or ""
    if name in ("", ":memory:") or parsed.query.get("mode") == "memory":
        raise InputError(field, "an in-memory SQLite database does not outlive the command: "
                                "name a file, sqlite:///PATH")
    if name.startswith("file:"):
        return  # a SQLite URI filename; sqlite3 itself reads its options
    path = Path(name)
    if create and not path.exists():
        if not path.parent.is_dir():
            raise InputError(field, f"directory {path.parent} does not exist: create it or "
                                    "name a file in an existing directory")
        return
    if not path.is_file():
        raise InputError(field, f"database file {path} does not exist: create it with "
                                "`creditcycle seed` (or `migrate`), or name an existing file")
    # A plain read through sqlite3: no pragma, nothing written to a file that is refused.
    try:
        with closing(sqlite3.connect(path)) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise InputError(field, f"cannot use database {shown(parsed)}: {_first_line(exc)}: "
                                "name a creditcycle SQLite file") from None
    if not create and "cycle_runs" not in tables:
        raise _no_tables(parsed, field)


def holdings(engine: Engine) -> list[str]:
    """The tables of business data that hold rows (empty for a new or only migrated database).
    """
    tables = (s.users, s.loans, s.journals, s.agencies, s.cycle_runs)
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        return [t.name for t in tables
                if t.name in names and conn.execute(select(exists().select_from(t))).scalar()]


def require_empty(url: str, field: str = "--database-url") -> None:
    """Refuse a database that already holds business data (naming it and its tables)."""
    engine = make_engine(url)
    try:
        held = holdings(engine)
    finally:
        engine.dispose()
    if held:
        raise InputError(field, f"database {shown(make_url(database_url(url)))} is not empty "
                                f"(it holds {', '.join(held)}): name a new file or an empty "
                                "database")


def is_sqlite(engine_or_url: Engine | str) -> bool:
    """Whether the engine or URL is SQLite."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def make_engine(url: str | None = None, *, pool_size: int = 5) -> Engine:
    """An engine for ``url`` (see ``database_url``): SQLite takes its write lock at BEGIN,
    PostgreSQL runs without JIT or parallel workers (see below)."""
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


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    # Turn off pysqlite's own transaction handling so BEGIN IMMEDIATE is ours:
    # a chunk takes the write lock up front instead of failing to upgrade later.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def migrate(url: str | None = None) -> None:
    """Bring the database to the newest schema (alembic upgrade head)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url(url))
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")


def now() -> datetime:
    """The current time, aware, in the local zone."""
    return datetime.now().astimezone()
