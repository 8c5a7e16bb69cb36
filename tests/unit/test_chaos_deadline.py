"""The chaos drill can never hang: its deadline interrupts even a blocked socket read."""

from __future__ import annotations

import socket
import time

import pytest

from drills.chaos import ChaosTimeout, _deadline

pytestmark = pytest.mark.drills


def test_a_drill_past_its_deadline_ends_with_chaos_timeout_even_inside_a_blocked_read(
) -> None:
    a, b = socket.socketpair()
    t = time.monotonic()
    try:
        with pytest.raises(ChaosTimeout, match="did not end within"), _deadline(0.3):
            a.recv(1)  # nothing ever comes: without the deadline this waits forever
    finally:
        a.close()
        b.close()
    assert time.monotonic() - t < 5


def test_a_drill_within_its_deadline_is_not_interrupted_later() -> None:
    with _deadline(0.2):
        pass
    time.sleep(0.4)  # the timer was cancelled: nothing fires after the drill
