"""Server fixtures shared by every test: real PostgreSQL, real Redis, SQLite.

Nothing about the domain lives here; only servers and generic helpers.

- postgres_url (session): SQLAlchemy URL of database `creditcycle_test` on a
  private PostgreSQL started for the session. Fails (never skips) when the
  PostgreSQL binaries are missing: `make services` installs them.
- postgres_server (session): the PostgresServer object behind it (stop/start).
- fresh_postgres_url (function): a new, empty database on that server,
  dropped afterwards.
- redis_url (session) / redis_server: a private redis-server on 127.0.0.1.
- sqlite_url (function): sqlite:///<tmp_path>/cc.db
- db_url (function, parametrized "sqlite" / "postgres"): either of the above,
  so a test that takes it runs on both stores.

Tests using PostgreSQL or Redis get the `postgres` / `redis` markers
automatically, so `-m "not postgres"` works.

The tests are grouped by speed, each group a folder, its name a marker:
- tests/unit: no server, no database file, no subprocess (pure and in-memory);
  `make test-fast` runs them alone.
- tests/integration: a real database (SQLite file or PostgreSQL), an adapter's real
  counterpart (bank simulator, sink receiver), a child process that starts no server;
  no Redis, no Celery workers.
- tests/e2e: Celery workers, Redis, Flower, beat, the CLI in child processes that
  start servers, the drills.
A topic folder inside a group (tests/<group>/<topic>/) gives its tests the topic's
marker; a file at the top of a group names its topic with `pytestmark`, if any.
Every group and topic is declared in pyproject.toml's markers (--strict-markers).
Fixtures shared by several files live in tests/support/ (plain modules, registered
below) so that no test imports from another group's folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drills.servers import (
    PostgresServer,
    RedisServer,
    ServerError,
    start_postgres,
    start_redis,
)

TEST_DATABASE = "creditcycle_test"
GROUPS = ("unit", "integration", "e2e")
TESTS = Path(__file__).resolve().parent

pytest_plugins = ["tests.support.badinput", "tests.support.security", "tests.support.stacks"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres(database=TEST_DATABASE)
    except ServerError as exc:
        pytest.fail(f"cannot start PostgreSQL for the tests: {exc}", pytrace=False)
    with server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """postgresql+psycopg://postgres@127.0.0.1:PORT/creditcycle_test"""
    return postgres_server.url


@pytest.fixture
def fresh_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a new, empty database (unique name), dropped after the test."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = start_redis()
    except ServerError as exc:
        pytest.fail(f"cannot start redis-server for the tests: {exc}", pytrace=False)
    with server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """redis://127.0.0.1:PORT/0 (no persistence; shared by the session)."""
    return redis_server.url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cc.db"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL on SQLite, then on PostgreSQL (one test each)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("fresh_postgres_url"))


_POSTGRES_FIXTURES = {"postgres_server", "postgres_url", "fresh_postgres_url"}
_REDIS_FIXTURES = {"redis_server", "redis_url"}


def _folder_markers(path: Path) -> list[str]:
    """The group and topic markers of a test file, from its folder under tests/."""
    folders = path.resolve().relative_to(TESTS).parts[:-1]
    if not folders or folders[0] not in GROUPS:
        raise pytest.UsageError(f"{path}: a test file belongs in tests/unit, tests/integration "
                                "or tests/e2e (see tests/conftest.py)")
    return list(folders)


_WORKER_FIXTURES = {"make_stack", "workers_on", "stack_on", "flower_on", "creditcycle_flower"}
_ABOVE = {  # what a group's tests may not take (the fixtures of a slower group)
    "unit": _POSTGRES_FIXTURES | _REDIS_FIXTURES | _WORKER_FIXTURES
    | {"sqlite_url", "db_url", "seeded_sqlite"},
    "integration": _REDIS_FIXTURES | _WORKER_FIXTURES,
    "e2e": set(),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    declared = {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
    for item in items:
        folders = _folder_markers(item.path)
        if unknown := [name for name in folders if name not in declared]:
            raise pytest.UsageError(f"{item.path}: folder {unknown[0]!r} is not a marker "
                                    "declared in pyproject.toml (a topic folder is one)")
        for name in folders:
            item.add_marker(getattr(pytest.mark, name))
        names = set(getattr(item, "fixturenames", ()))
        if too_slow := sorted(names & _ABOVE[folders[0]]):
            raise pytest.UsageError(f"{item.nodeid} takes {', '.join(too_slow)}: "
                                    f"it belongs in a slower group than tests/{folders[0]}")
        callspec = getattr(item, "callspec", None)
        db_param = callspec.params.get("db_url") if callspec is not None else None
        if names & _POSTGRES_FIXTURES or db_param == "postgres":
            item.add_marker(pytest.mark.postgres)
        if names & _REDIS_FIXTURES:
            item.add_marker(pytest.mark.redis)


@pytest.fixture(autouse=True)
def _settings_read_per_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The settings are read once per process: each test reads the environment it sets
    (monkeypatch.setenv/delenv read them again)."""
    from workers import settings

    for name in ("setenv", "delenv"):
        original = getattr(monkeypatch, name)

        def again(*args: Any, _original: Any = original, **kwargs: Any) -> None:
            _original(*args, **kwargs)
            settings.reset()

        setattr(monkeypatch, name, again)
    settings.reset()
    yield
    settings.reset()


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """REDIS_URL and DATABASE_URL as they were before the test, whatever it sets."""
    for name in ("REDIS_URL", "DATABASE_URL"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    return monkeypatch
