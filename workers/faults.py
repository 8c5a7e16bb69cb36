"""Deliberate faults for drills and tests: make one chunk fail or kill its worker.

``CREDITCYCLE_FAULT=step:user_id:mode`` (mode ``raise`` or ``kill``) hits the
chunk of ``step`` that would process ``user_id``, as bad data would: once
that user is held the chunks run clean, and a released replay runs under its
own step key (``step#release``) and is not hit, as after a fix.
"""

from __future__ import annotations

import os
from collections.abc import Callable


class InjectedFault(RuntimeError):
    """A failure injected on purpose."""


def check(step: str, lo: str, hi: str, is_held: Callable[[str], bool]) -> None:
    spec = os.environ.get("CREDITCYCLE_FAULT", "")
    if not spec:
        return
    for item in spec.split(","):
        parts = item.split(":")
        if len(parts) != 3:
            continue
        fault_step, user, mode = parts
        if fault_step == step and lo <= user <= hi and not is_held(user):
            if mode == "kill":
                os._exit(137)
            raise InjectedFault(f"injected fault in {step} for the chunk holding {user}")
