"""``creditcycle explain``: why a borrower's score and limit are what they are.

Reads one borrower's history (``store.history.user_history``), turns the rows
into dated facts and the remedies the SPEC's rules allow, and lets
``domain.explain`` word them in English or Chinese. The remedies are the
rules read backwards: the amount that clears an overdue loan is what is
owed on the installments already due; a limit multiplier lapses when its
window no longer holds enough signals; the projected limit is the real
recalculation run on the next recalculation date with nothing new.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from domain.config import ProductConfig
from domain.explain import Explanation, render
from reports.explain_state import remedies, state
from reports.explain_timeline import RANK, applications, timeline
from store import applications as applications_store
from store import cycle_reads
from store import history as history_rows
from store.engine import Engine
from store.history import UserHistory


class UnknownUser(LookupError):
    """No borrower with this id."""


def explain(engine: Engine, user_id: str, *, lang: str = "en", since: date | None = None,
            config: ProductConfig | None = None) -> str:
    """The text for ``user_id``; raises UnknownUser, or ValueError for an unknown language."""
    return render(build_for(engine, user_id, config or ProductConfig(), since), lang, since)


def build_for(engine: Engine, user_id: str, config: ProductConfig,
              since: date | None = None) -> Explanation:
    """The explanation of ``user_id`` as of the last closed date (UnknownUser if none)."""
    with engine.connect() as conn:
        history = history_rows.user_history(conn, user_id)
        as_of = cycle_reads.last_closed_day(conn)
        apps = applications_store.of_user(conn, user_id)
    if history is None:
        raise UnknownUser(user_id)
    ex = build(history, as_of, config, since)
    extra = tuple(applications(history, apps, config, since or date.min))
    if not extra:
        return ex
    lines = sorted((*ex.timeline, *extra), key=lambda x: (x.day or date.min,
                                                          RANK.get(x.kind, 99)))
    return replace(ex, timeline=tuple(lines))


def build(h: UserHistory, as_of: date | None, config: ProductConfig,
          since: date | None = None) -> Explanation:
    """State and remedies from the whole history; the timeline from ``since`` on: what it
    counts (attempts, reminders, days of penalty) counts only what happened from then."""
    on = as_of or date.today()
    return Explanation(user_id=h.user.id, as_of=as_of, state=tuple(state(h, on)),
                       remedies=tuple(remedies(h, on, config)),
                       timeline=tuple(timeline(h, config, since or date.min)))
