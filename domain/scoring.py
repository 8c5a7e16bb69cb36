"""Credit-score impact (SPEC section 4).

Events of one day apply in the order of the SPEC's table, each clamped to the
score range and recorded with its reason, loan, old and new score.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from domain.config import ProductConfig
from domain.model import LoanEvent

ORDER = (
    "OVERDUE_STARTED",
    "BUCKET_M2",
    "BUCKET_M3",
    "BUCKET_M3_PLUS",
    "WRITTEN_OFF",
    "EXTERNAL_OVERDUE",
    "OVERDUE_CLEARED",
    "ON_TIME_REPAYMENT",
)
_RANK = {reason: i for i, reason in enumerate(ORDER)}

LOAN_EVENT_REASON = {
    "OVERDUE_STARTED": "OVERDUE_STARTED",
    "BUCKET_M2": "BUCKET_M2",
    "BUCKET_M3": "BUCKET_M3",
    "BUCKET_M3_PLUS": "BUCKET_M3_PLUS",
    "WRITE_OFF_DUE": "WRITTEN_OFF",
    "OVERDUE_CLEARED": "OVERDUE_CLEARED",
    "ON_TIME_REPAYMENT": "ON_TIME_REPAYMENT",
}

BUREAU_KIND = {
    "OVERDUE_STARTED": "OVERDUE",
    "BUCKET_M3_PLUS": "M3_PLUS",
    "WRITE_OFF_DUE": "WRITTEN_OFF",
    "OVERDUE_CLEARED": "CLEARED",
}


@dataclass(frozen=True, slots=True)
class ScoreState:
    user_id: str
    score: int
    last_external_overdue: date | None


@dataclass(frozen=True, slots=True)
class ScoreEvent:
    day: date
    user_id: str
    loan_id: str | None
    reason: str
    old: int
    new: int
    seq: int


@dataclass(frozen=True, slots=True)
class ScoreDecision:
    user_id: str
    score: int
    last_external_overdue: date | None
    events: tuple[ScoreEvent, ...]


def score_users(states: Sequence[ScoreState], loan_events: Iterable[LoanEvent],
                external_overdue_users: Iterable[str], on: date,
                config: ProductConfig) -> list[ScoreDecision]:
    """Apply one day's events to a chunk of users; users without events are left out."""
    by_user: dict[str, list[tuple[int, str, str]]] = {}
    for ev in loan_events:
        reason = LOAN_EVENT_REASON.get(ev.kind)
        if reason is not None:
            by_user.setdefault(ev.user_id, []).append((_RANK[reason], ev.loan_id or "", reason))
    external = set(external_overdue_users)
    decisions = []
    for state in states:
        items = list(by_user.get(state.user_id, []))
        last_ext = state.last_external_overdue
        if state.user_id in external and (
                last_ext is None or (on - last_ext).days >= config.external_overdue_interval_days):
            items.append((_RANK["EXTERNAL_OVERDUE"], "", "EXTERNAL_OVERDUE"))
            last_ext = on
        if not items:
            continue
        items.sort(key=lambda t: (t[0], t[1]))
        score = state.score
        events = []
        for seq, (_, loan_id, reason) in enumerate(items):
            new = min(config.score_max,
                      max(config.score_min, score + config.score_deltas[reason]))
            events.append(ScoreEvent(on, state.user_id, loan_id or None, reason, score, new, seq))
            score = new
        decisions.append(ScoreDecision(state.user_id, score, last_ext, tuple(events)))
    return decisions
