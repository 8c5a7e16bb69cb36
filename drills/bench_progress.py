"""``make bench``, what a person watches: a bar for every phase on a terminal (rich, as the
demo's ``workers.progress``), one line per phase without one (a log, CI), and the watch
loop of a night, which also tells the profiler which step is running."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from workers.progress import closed_through, current_step

#: Without a terminal a phase still running after this many seconds prints a line at its
#: next step (a 1M seeding takes minutes), so that a log never stays silent for long.
QUIET_S = 30.0


class Phase:
    """One phase's bar (terminal) or line (no terminal)."""

    def __init__(self, phases: Phases, name: str, task: Any) -> None:
        self.phases, self.name, self.task = phases, name, task
        self.started = self.said = time.monotonic()
        self.detail = ""
        self.ended = False

    def update(self, detail: str | None = None, *, completed: float | None = None,
               total: float | None = None) -> None:
        """Where the phase is: ``detail`` shown next to its name, ``completed`` of ``total``."""
        if detail is not None:
            self.detail = detail
        bar = self.phases.bar
        if bar is not None:
            label = f"{self.name}: {self.detail}" if self.detail else self.name
            bar.update(self.task, description=label, completed=completed, total=total)
            return
        now = time.monotonic()
        if detail is not None and now - self.said >= QUIET_S:
            self.phases.line(f"{self.name}: {self.detail} ({now - self.started:.0f}s so far)")
            self.said = now

    def end(self, detail: str | None = None) -> float:
        """Close the phase (its bar full, or its one line printed); its seconds."""
        seconds = time.monotonic() - self.started
        self.ended = True
        if detail is not None:
            self.detail = detail
        text = f"{self.name}: {self.detail} ({seconds:.1f}s)" if self.detail else \
            f"{self.name} ({seconds:.1f}s)"
        bar = self.phases.bar
        if bar is not None:
            total = bar.tasks[[t.id for t in bar.tasks].index(self.task)].total
            bar.update(self.task, description=text, completed=total or 1, total=total or 1)
        else:
            self.phases.line(text)
        return seconds


class Phases:
    """The bench's phases, drawn on ``console`` (stderr by default)."""

    def __init__(self, console: Console | None = None, *, show: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self.show = show
        self.bar: Progress | None = None
        if show and self.console.is_terminal:
            self.bar = Progress(SpinnerColumn(), TextColumn("{task.description:<56}"),
                                BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                console=self.console, transient=False,
                                redirect_stdout=sys.stdout.isatty())  # a piped report stays piped

    def line(self, text: str) -> None:
        """One line, as a log reads it."""
        if self.show:
            self.console.print(f"bench: {text}", soft_wrap=True, highlight=False)

    def __enter__(self) -> Phases:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    @contextmanager
    def phase(self, name: str, total: float | None = None) -> Iterator[Phase]:
        """A phase; ``end`` it with a detail, or it ends when the block does."""
        task = self.bar.add_task(name, total=total) if self.bar is not None else None
        p = Phase(self, name, task)
        yield p
        if not p.ended:
            p.end()


def watch_night(engine: Any, day: date, phase: Phase, steps: tuple[str, ...], *,
                sample: Callable[[str | None], None] | None = None,
                timeout: float = 7200, poll: float = 0.1) -> None:
    """Wait until ``day`` is closed, drawing its steps and chunks on ``phase`` and telling
    ``sample`` (the profiler) which step runs; TimeoutError after ``timeout`` seconds.
    Reads the running step only when something shows or samples it."""
    deadline = time.monotonic() + timeout
    wants_step = sample is not None or phase.phases.bar is not None
    shown: tuple[str, int] | None = None
    while time.monotonic() < deadline:
        cur = current_step(engine) if wants_step else None
        if cur is not None:
            _, step, done, total = cur
            if sample is not None:
                sample(step)
            if (step, done) != shown:
                shown = (step, done)
                k = steps.index(step) if step in steps else len(steps)
                phase.update(f"{step} {done}/{total} chunks", completed=k, total=len(steps))
        last = closed_through(engine)
        if last is not None and last >= day:
            return
        time.sleep(poll)
    raise TimeoutError(f"{day} not closed within {timeout}s (closed through "
                       f"{closed_through(engine)})")
