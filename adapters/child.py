"""A server of this package run as a child process, for demos, drills and tests.

The child prints ``<banner><http://host:port>`` once it listens; ``start`` waits
for that line, so a caller never races the child's bind (``port=0`` picks a free
port and reads it back).
"""

from __future__ import annotations

import subprocess
from typing import Any, Self


class ChildServer:
    """Start and stop one child server whose command a subclass builds."""

    banner = ""

    def __init__(self, host: str, port: int, log_path: str) -> None:
        self.host, self.port, self.log_path = host, port, log_path
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> Self:
        """Returns once it listens (it prints its address then), or raises."""
        log = open(self.log_path, "a")  # noqa: SIM115 - the child owns it
        # S603: our own interpreter and module; the command is built by the subclass
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE,  # noqa: S603
                                     stderr=log, text=True)
        log.close()
        if self.proc.stdout is None:  # stdout=PIPE always gives one
            raise AssertionError("the child started without a stdout pipe")
        line = self.proc.stdout.readline()
        if not line.startswith(self.banner):
            self.stop()
            raise RuntimeError(f"{self.banner.split(' ')[0]} did not start; see {self.log_path}")
        self.port = int(line.rsplit(":", 1)[1])
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


async def serve_until_stopped(app: Any, host: str, port: int, banner: str,
                              **server_options: Any) -> Any:
    """Serve the tornado ``app`` on ``host``:``port`` (0: a free one) until SIGTERM or
    SIGINT, printing ``banner`` and the URL once it listens (what ``ChildServer`` waits
    for); returns the stopped server."""
    import asyncio
    import signal

    import tornado.httpserver
    import tornado.netutil

    server = tornado.httpserver.HTTPServer(app, **server_options)
    sockets = tornado.netutil.bind_sockets(port, host)
    server.add_sockets(sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"{banner}http://{host}:{sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.stop()
    return server
