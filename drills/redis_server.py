"""A private redis-server on 127.0.0.1, a child of this process (started by
``drills.servers.start_redis``)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

import redis

from drills.server_base import HOST, ServerError, _live, _tail


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
