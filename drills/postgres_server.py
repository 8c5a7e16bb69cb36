"""A private PostgreSQL cluster on 127.0.0.1, a child of this process (started by
``drills.servers.start_postgres``)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg

from drills.server_base import HOST, PG_SUPERUSER, ServerError, _check_identifier, _live, _tail


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
