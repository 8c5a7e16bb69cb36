"""One ``httpx.Client`` per process, for every adapter that speaks HTTP (the bank,
the outbox sinks).

``ProcessClient`` makes its client on first use and keeps it, so calls from one
process reuse their connections (keep-alive, one pool per host). A Celery prefork
worker forks its children from a parent that may already hold a client: a child must
not use the parent's sockets (two processes writing one connection interleave their
requests and read each other's answers), so the first use in a new process makes a
new client, and the parent's copy is dropped without being closed (closing it in the
child could end the parent's TLS session). Redirects are never followed: a signed
body goes only where it was configured to go.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

import httpx


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``read`` bounds the wait for an answer: past it the outcome is unknown
    (a bank's debits are pending, a sink's delivery is retried)."""

    connect: float = 3.0
    read: float = 10.0
    write: float = 10.0
    pool: float = 10.0

    def for_httpx(self) -> httpx.Timeout:
        """The same timeouts as httpx takes them."""
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write,
                             pool=self.pool)


DEFAULT_TIMEOUTS: Final = Timeouts()


class ProcessClient:
    """This process's ``httpx.Client`` with ``timeouts`` (``transport``: tests)."""

    def __init__(self, timeouts: Timeouts = DEFAULT_TIMEOUTS,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.timeouts = timeouts
        self._transport = transport
        self._client: httpx.Client | None = None
        self._pid = 0

    def get(self) -> httpx.Client:
        """The client of the calling process, made on its first use there."""
        pid = os.getpid()
        if self._client is None or self._pid != pid:
            self._client = httpx.Client(timeout=self.timeouts.for_httpx(),
                                        transport=self._transport, follow_redirects=False)
            self._pid = pid
        return self._client

    def close(self) -> None:
        """Close the client if this process made it (a parent's copy is only dropped)."""
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None


__all__ = ["DEFAULT_TIMEOUTS", "ProcessClient", "Timeouts"]
