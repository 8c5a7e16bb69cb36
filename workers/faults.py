"""Deliberate faults for drills and tests: make one chunk fail or kill its worker.

``CREDITCYCLE_FAULT=step:user_id:mode`` (mode ``raise`` or ``kill``) hits the
chunk of ``step`` whose range holds ``user_id``. A released replay runs under
its own step key (``step#release``) and is not hit, as after a fix.
"""

from __future__ import annotations

import os


class InjectedFault(RuntimeError):
    """A failure injected on purpose."""


def check(step: str, lo: str, hi: str) -> None:
    spec = os.environ.get("CREDITCYCLE_FAULT", "")
    if not spec:
        return
    for item in spec.split(","):
        parts = item.split(":")
        if len(parts) != 3:
            continue
        fault_step, user, mode = parts
        if fault_step == step and lo <= user <= hi:
            if mode == "kill":
                os._exit(137)
            raise InjectedFault(f"injected fault in {step} for the chunk holding {user}")
