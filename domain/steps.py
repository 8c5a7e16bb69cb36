"""The steps of a close of business and their order: the one table.

A business date D is closed by the steps of ``close_steps(D)``, in that
order: the chunked ones run once per chunk of users (a keyset range of ids),
the single ones once for the date. On the last day of a month the bureau
file follows. Daytime deduction attempts (``deduct`` at ``HHMM``) run on D
before its close, and only once D - 1 is closed. A release (held users
catching up) replays the same steps under bookkeeping keys of its own.

Everything that runs, starts, validates or names a step (the Celery cycle,
``cycle release``, the in-process runner, task payloads, metrics) reads it
from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Final, Literal

from domain.money import is_month_end


class Step(StrEnum):
    """A step of the close of business."""

    DEDUCT = "deduct"
    OVERDUE = "overdue"
    SCORE = "score"
    LIMIT = "limit"
    COLLECT = "collect"
    HANDOFF = "handoff"
    RECONCILE = "reconcile"
    RECONCILE_CLOSE = "reconcile_close"
    BUREAU_FILE = "bureau_file"


CLOSE: Final = "close"  # the row of the date itself: its status is the date's

# The night, in order; True for the steps that run chunk by chunk.
NIGHT: Final[tuple[tuple[Step, bool], ...]] = (
    (Step.DEDUCT, True),
    (Step.OVERDUE, True),
    (Step.SCORE, True),
    (Step.LIMIT, True),
    (Step.COLLECT, True),
    (Step.HANDOFF, False),  # one serialized pass, in loan id order
    (Step.RECONCILE, True),
    (Step.RECONCILE_CLOSE, False),  # the day's money settled and proven
)
MONTH_END: Final[tuple[tuple[Step, bool], ...]] = ((Step.BUREAU_FILE, False),)
CHUNKED: Final[frozenset[Step]] = frozenset(s for s, chunked in (*NIGHT, *MONTH_END) if chunked)
SINGLE: Final[frozenset[Step]] = frozenset(s for s, chunked in (*NIGHT, *MONTH_END)
                                           if not chunked)
# Steps that talk to the bank channel.
BANKING: Final[frozenset[Step]] = frozenset({Step.DEDUCT, Step.RECONCILE})

Run = Literal["night", "release"]
NIGHT_RUN: Final[Run] = "night"
RELEASE_RUN: Final[Run] = "release"

RUNS: Final[tuple[Run, ...]] = (NIGHT_RUN, RELEASE_RUN)
# The names a cycle row's ``step`` field may hold: a step, or the date's own close row.
ROW_NAMES: Final[tuple[str, ...]] = (*(s.value for s in Step), CLOSE)

_HHMM = re.compile(r"^([01]\d|2[0-3])[0-5]\d$")


def close_steps(on: date) -> list[Step]:
    """The steps that close ``on``, in order (the bureau file on a month end)."""
    order = [s for s, _ in NIGHT]
    if is_month_end(on):
        order += [s for s, _ in MONTH_END]
    return order


def is_chunked(step: Step) -> bool:
    """Whether ``step`` runs once per chunk of users (else once for the date)."""
    return step in CHUNKED


def attempt_code(at: str) -> str:
    """A daytime attempt's time ``HH:MM`` as its code ``HHMM``."""
    code = at.replace(":", "")
    if not _HHMM.match(code):
        raise ValueError(f"not a time of day HH:MM: {at!r}")
    return code


def may_attempt(on: date, last_closed: date | None) -> bool:
    """A daytime deduction attempt of ``on`` runs only once ``on - 1`` is closed."""
    return last_closed is not None and last_closed >= on - timedelta(days=1)


def next_to_close(last_closed: date | None, target: date) -> date | None:
    """The date a catch-up to ``target`` closes next (the oldest unclosed), or None."""
    on = target if last_closed is None else last_closed + timedelta(days=1)
    return None if on > target else on


@dataclass(frozen=True, slots=True, order=True)
class StepKey:
    """One step's bookkeeping identity on a date: the step, the daytime attempt it
    is (``HHMM``; None for the close of business) and the run it belongs to (the
    night's own, or a release of held users replaying it)."""

    step: Step
    attempt: str | None = None
    run: Run = NIGHT_RUN

    def __post_init__(self) -> None:
        if self.attempt is not None and (self.step != Step.DEDUCT
                                         or not _HHMM.match(self.attempt)):
            raise ValueError(f"a daytime attempt is a deduction at HHMM, not "
                             f"{self.step}@{self.attempt}")

    @property
    def label(self) -> str:
        """How people read it: ``deduct``, ``deduct@0600``, ``limit#release``."""
        at = f"@{self.attempt}" if self.attempt else ""
        return f"{self.step}{at}{'#release' if self.run == RELEASE_RUN else ''}"

    @property
    def daytime(self) -> bool:
        """Whether this is a daytime deduction attempt (not the close of business)."""
        return self.attempt is not None

    @property
    def at(self) -> str:
        """The attempt's ``HHMM`` as a field (empty for the close of business)."""
        return self.attempt or ""

    def released(self) -> StepKey:
        """The same step replayed by a release of held users."""
        return StepKey(self.step, self.attempt, RELEASE_RUN)

    @classmethod
    def of(cls, step: str, at: str = "", run: str = NIGHT_RUN) -> StepKey:
        """The key of typed fields (a row's or a payload's ``step``, ``at``, ``run``);
        ValueError naming what is wrong when they name none."""
        try:
            name = Step(step)
        except ValueError:
            raise ValueError(f"unknown step {step!r}") from None
        if run not in RUNS:
            raise ValueError(f"unknown run {run!r} (one of {', '.join(RUNS)})")
        return cls(name, at or None, RELEASE_RUN if run == RELEASE_RUN else NIGHT_RUN)


def night_of(on: date, attempts: list[str]) -> list[StepKey]:
    """Everything that runs on ``on`` in a normal day: the daytime attempts (codes
    ``HHMM``, in order), then the close of business."""
    return [*(StepKey(Step.DEDUCT, a) for a in attempts),
            *(StepKey(s) for s in close_steps(on))]


def replay_order(on: date, failed: StepKey, first_day: date,
                 daytime: list[StepKey]) -> list[StepKey]:
    """What a release replays on ``on`` for users held on ``first_day`` at ``failed``:
    on the first day, the close from the failed step on; on each later day, that day's
    daytime attempts (``daytime``, as they ran) and then its whole close."""
    order = [StepKey(s) for s in close_steps(on)]
    if on == first_day:
        base = StepKey(failed.step)
        return order[order.index(base):] if base in order and not failed.daytime else order
    return [*sorted(daytime), *order]


def rank(on: date, key: StepKey) -> int:
    """Where ``key`` comes in the day ``on`` (a daytime attempt first)."""
    order = close_steps(on)
    return -1 if key.daytime or key.step not in order else order.index(key.step)


def per_chunk(key: StepKey) -> bool:
    """Whether ``key`` runs once per chunk of users: the chunked steps, and in a release
    the bureau file too (only the released users' lines of it are corrected)."""
    return key.step in CHUNKED or (key.step == Step.BUREAU_FILE and key.run == RELEASE_RUN)
