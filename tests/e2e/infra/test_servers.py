"""The server fixtures start real PostgreSQL and Redis, and the helpers behave."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
import redis
import sqlalchemy as sa
from redis.backoff import NoBackoff
from redis.retry import Retry

from drills import servers
from drills.servers import PostgresServer, RedisServer, start_postgres, start_redis
from tests.support.paths import ROOT


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# --- PostgreSQL --------------------------------------------------------------


def test_postgres_fixture_accepts_connections_and_runs_sql(postgres_url: str) -> None:
    with psycopg.connect(_libpq(postgres_url)) as conn:
        conn.execute("CREATE TEMP TABLE t (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO t VALUES (1, 'one'), (2, 'two')")
        rows = conn.execute("SELECT id, note FROM t ORDER BY id").fetchall()
        version = conn.execute("SHOW server_version_num").fetchone()
    assert rows == [(1, "one"), (2, "two")]
    assert version is not None and int(version[0]) >= 130000


def test_postgres_url_is_a_sqlalchemy_psycopg_url_to_creditcycle_test(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    assert postgres_url.split("@")[1].startswith("127.0.0.1:")
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT current_database()")) == "creditcycle_test"
    finally:
        engine.dispose()


def test_postgres_runs_with_the_fast_non_durable_settings(postgres_url: str) -> None:
    with psycopg.connect(_libpq(postgres_url)) as conn:
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()
            for name in ("fsync", "synchronous_commit", "full_page_writes")
        }
    assert settings == {
        "fsync": ("off",),
        "synchronous_commit": ("off",),
        "full_page_writes": ("off",),
    }


def test_postgres_server_does_not_run_as_root(postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_server.dsn) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        owner = os.stat(f"/proc/{row[0]}").st_uid  # while the backend is alive
    assert owner != 0


def test_fresh_postgres_url_is_a_new_empty_database(
    fresh_postgres_url: str, postgres_url: str
) -> None:
    assert fresh_postgres_url != postgres_url
    with psycopg.connect(_libpq(fresh_postgres_url)) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_create_and_drop_database_on_the_session_server(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database()
    name = url.rsplit("/", 1)[1]
    engine = sa.create_engine(url)  # a lingering connection must not block the drop
    conn = engine.connect()
    try:
        postgres_server.drop_database(name)
    finally:
        conn.invalidate()
        engine.dispose()
    with psycopg.connect(_libpq(postgres_server.url)) as admin:
        left = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert left is None


@pytest.mark.postgres
def test_postgres_stop_and_start_keeps_port_and_committed_data() -> None:
    with start_postgres(database="chaos") as pg:
        with psycopg.connect(pg.dsn) as conn:
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (42)")
        port = pg.port
        pg.stop()
        assert not _port_open(port)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg.dsn, connect_timeout=2)
        pg.start()
        assert pg.port == port
        with psycopg.connect(pg.dsn) as conn:
            assert conn.execute("SELECT x FROM kept").fetchall() == [(42,)]
        base_dir = pg.base_dir
    assert not base_dir.exists()
    assert not _port_open(port)


@pytest.mark.postgres
def test_postgres_in_a_given_base_dir_is_kept_and_reused_with_its_port_and_data() -> None:
    base_dir = Path(tempfile.mkdtemp(prefix="cc-test-pg-"))
    try:
        with start_postgres(base_dir, database="kept") as pg:
            port = pg.port
            with psycopg.connect(pg.dsn) as conn:
                conn.execute("CREATE TABLE survives (x int)")
                conn.execute("INSERT INTO survives VALUES (1)")
        assert (base_dir / "data" / "PG_VERSION").exists()
        assert not _port_open(port)
        with start_postgres(base_dir, database="kept") as pg:
            assert pg.port == port
            with psycopg.connect(pg.dsn) as conn:
                assert conn.execute("SELECT x FROM survives").fetchall() == [(1,)]
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_as_root_a_base_dir_the_postgres_user_cannot_reach_is_refused_clearly(
    tmp_path: Path,
) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(servers.ServerError, match="not searchable"):
        start_postgres(private / "pg")


@pytest.mark.postgres
@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_as_root_a_private_tmpdir_falls_back_to_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    private = tmp_path / "private-tmp"
    private.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    with start_postgres(database=None) as pg:
        assert pg.base_dir.parent == Path("/tmp")
        with psycopg.connect(pg.dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_start_postgres_fails_with_a_clear_message_when_binaries_are_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CREDITCYCLE_PG_BINDIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(servers, "PG_SEARCH_GLOBS", (str(tmp_path / "nowhere" / "*"),))
    with pytest.raises(servers.PostgresNotFoundError, match="make services"):
        start_postgres()


# --- SQLite and the parametrized store ------------------------------------------


def test_sqlite_url_points_into_the_test_tmp_path(sqlite_url: str, tmp_path: Path) -> None:
    assert sqlite_url == f"sqlite:///{tmp_path}/cc.db"


def test_db_url_gives_a_working_database_on_each_store(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE probe (x INTEGER)"))
            conn.execute(sa.text("INSERT INTO probe VALUES (7)"))
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT x FROM probe")) == 7
    finally:
        engine.dispose()


DB_PROBE = "test_db_url_gives_a_working_database_on_each_store"


def _collect(*args: str) -> set[str]:
    """Test ids pytest collects from this file with `args` (e.g. -m ...)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *args,
            __file__,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode in (0, 5), proc.stdout + proc.stderr  # 5: nothing selected
    return {line.split("::")[-1] for line in proc.stdout.splitlines() if "::" in line}


def test_tests_on_postgres_or_redis_are_marked_so_they_can_be_deselected() -> None:
    local = _collect("-m", "not postgres and not redis")
    assert f"{DB_PROBE}[sqlite]" in local
    assert f"{DB_PROBE}[postgres]" not in local
    assert "test_redis_fixture_accepts_set_and_get" not in local
    assert "test_postgres_fixture_accepts_connections_and_runs_sql" not in local


# --- Redis ---------------------------------------------------------------------


def test_redis_fixture_accepts_set_and_get(redis_url: str) -> None:
    assert redis_url.startswith("redis://127.0.0.1:")
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.set("creditcycle:probe", "ok")
        assert client.get("creditcycle:probe") == b"ok"
        assert client.delete("creditcycle:probe") == 1
    finally:
        client.close()


@pytest.mark.redis
def test_redis_restart_keeps_the_same_port_and_serves_again() -> None:
    with start_redis() as rd:
        port, url = rd.port, rd.url
        client = redis.Redis.from_url(url)
        client.set("k", "v")
        rd.restart()
        assert rd.port == port and rd.url == url
        assert client.ping()  # the client reconnects to the same address
        assert client.get("k") is None  # no persistence by default
        rd.restart(kill=True)
        assert client.ping()
        client.close()
    assert not _port_open(port)


@pytest.mark.redis
def test_redis_with_appendonly_keeps_data_across_restart() -> None:
    with start_redis(appendonly=True) as rd:
        client = redis.Redis.from_url(rd.url)
        client.set("k", "v")
        rd.restart()
        assert client.get("k") == b"v"
        client.close()


@pytest.mark.redis
def test_redis_with_password_refuses_clients_without_it() -> None:
    with start_redis(password="s3cret/&:@") as rd:
        assert ":s3cret%2F%26%3A%40@" in rd.url
        authed = redis.Redis.from_url(rd.url)
        assert authed.ping()
        authed.close()
        anonymous = redis.Redis(host=rd.host, port=rd.port, retry=Retry(NoBackoff(), 0))
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.ping()
        anonymous.close()


@pytest.mark.redis
def test_stopped_redis_refuses_connections_until_started() -> None:
    with start_redis() as rd:
        rd.stop()
        assert not rd.running
        assert not _port_open(rd.port)
        rd.start()
        assert rd.running and _port_open(rd.port)


def test_redis_server_binary_is_found(redis_server: RedisServer) -> None:
    binary = servers.find_redis_server()
    assert os.access(binary, os.X_OK)
    assert redis_server.binary == binary
