"""What the private servers (``drills.servers``) share: the host they listen on, their
errors, free ports, their logs' tails, and the registry that closes every server left
running when the process exits."""

from __future__ import annotations

import atexit
import contextlib
import re
import socket
from pathlib import Path
from typing import Protocol


class _Server(Protocol):
    def close(self) -> None: ...


HOST = "127.0.0.1"
PG_SUPERUSER = "postgres"

_live: set[_Server] = set()


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


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _check_identifier(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise ValueError(f"invalid database name {name!r}")


@atexit.register
def _close_all() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.close()
