"""adapters.http_client: one httpx client per process, a new one after a fork."""

from __future__ import annotations

import os

import httpx
import pytest

from adapters.http_client import ProcessClient, Timeouts


def test_one_process_reuses_its_client_and_a_closed_one_is_made_again() -> None:
    pc = ProcessClient(Timeouts(connect=1, read=2))
    first = pc.get()
    assert pc.get() is first
    assert first.timeout == httpx.Timeout(connect=1, read=2, write=10, pool=10)
    assert first.follow_redirects is False
    pc.close()
    assert first.is_closed and pc.get() is not first
    pc.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_makes_its_own_client_and_leaves_the_parent_s_open() -> None:
    pc = ProcessClient()
    parent = pc.get()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got a client of its own, then leave
        os.close(read)
        ok = pc.get() is not parent and pc.get() is pc.get()
        pc.close()  # closes the child's own client only
        os.write(write, b"1" if ok and not parent.is_closed else b"0")
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        answer = f.read()
    os.waitpid(pid, 0)
    assert answer == b"1"
    assert pc.get() is parent and not parent.is_closed
    pc.close()
