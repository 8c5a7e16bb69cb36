"""The user flags the night keeps (SPEC sections 3 to 6): the limit frozen while a loan
is overdue, the overdue history the next recalculation sees, the date of that
recalculation, and a closed user's reset."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from domain.config import ProductConfig
from domain.model import OVERDUE, Loan


@dataclass(frozen=True, slots=True)
class Flags:
    """A user's flags as stored."""

    user_id: str
    limit_frozen: bool
    overdue_history_pending: bool
    next_recalc: date | None


@dataclass(frozen=True, slots=True)
class ClosedUser:
    """A user whose account is closed (a loan written off): no limit, frozen."""

    user_id: str
    closed: bool = True
    credit_limit: int = 0
    limit_frozen: bool = True


def recalc_due(next_recalc: date | None, on: date) -> date:
    """The recalculation is due on ``on`` at the latest (an earlier date stays)."""
    return on if next_recalc is None or next_recalc > on else next_recalc


def next_recalculation(on: date, config: ProductConfig) -> date:
    """After a recalculation on ``on``, the next one comes an interval later."""
    return on + timedelta(days=config.limit_recalc_interval_days)


def frozen_while_overdue(loans: Iterable[Loan]) -> dict[str, bool]:
    """Per user of ``loans``: whether any of them is overdue (the limit is frozen)."""
    frozen: dict[str, bool] = defaultdict(bool)
    for x in loans:
        frozen[x.user_id] |= x.status == OVERDUE
    return dict(frozen)


def after_overdue(flags: Sequence[Flags], frozen: dict[str, bool], status_changed: set[str],
                  cleared: set[str], on: date) -> list[Flags]:
    """The flags that change after the overdue step: frozen while any loan is overdue;
    a user whose overdue loans all cleared keeps that history for the next
    recalculation, which is due at once when a loan's status moved."""
    out = []
    for f in flags:
        is_frozen = frozen.get(f.user_id, False)
        history = f.overdue_history_pending or (f.user_id in cleared and not is_frozen)
        next_recalc = recalc_due(f.next_recalc, on) if f.user_id in status_changed \
            else f.next_recalc
        new = Flags(f.user_id, is_frozen, history, next_recalc)
        if new != f:
            out.append(new)
    return out


def closed_users(user_ids: Iterable[str]) -> list[ClosedUser]:
    """The reset of users whose account the night closed, in id order."""
    return [ClosedUser(u) for u in sorted(user_ids)]
