"""Deliberate faults for drills and tests: make one chunk fail or kill its worker.

``CREDITCYCLE_FAULT=step:user_id:mode`` (mode ``raise`` or ``kill``) hits the
chunk of ``step`` (as people read a step key: ``overdue``, ``deduct@0600``)
that would process ``user_id``, as bad data would: once
that user is held the chunks run clean, and a released replay runs under its
own step key (``step#release``) and is not hit, as after a fix.

``step:*:lose`` kills the worker that completes ``step`` right after that
completion (and the start of the next step) has committed, before it sends the
next step's messages: they are lost, as when a worker dies at that moment.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from domain.steps import StepKey
from workers import settings


class InjectedFault(RuntimeError):
    """A failure injected on purpose."""


def check(key: StepKey, lo: str, hi: str, is_held: Callable[[str], bool]) -> None:
    """Fail the chunk holding a user named in $CREDITCYCLE_FAULT (``step:user:mode``), for tests."""
    spec = settings.get().fault
    if not spec:
        return
    for item in spec.split(","):
        parts = item.split(":")
        if len(parts) != 3:
            continue
        fault_step, user, mode = parts
        if mode == "lose":
            continue
        if fault_step == key.label and lo <= user <= hi and not is_held(user):
            if mode == "kill":
                os._exit(137)
            raise InjectedFault(f"injected fault in {key.label} for the chunk holding {user}")


def check_lost(key: StepKey, has_messages: bool) -> None:
    """``step:*:lose``: die between the commit that starts the next step and its sending."""
    if not has_messages:
        return
    for item in settings.get().fault.split(","):
        parts = item.split(":")
        if len(parts) == 3 and parts[0] == key.label and parts[2] == "lose":
            os._exit(137)
