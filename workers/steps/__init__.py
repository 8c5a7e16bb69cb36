"""The step functions of the nightly cycle: load a chunk, let the domain decide, write it.

One module per step. Each function closes one chunk of users (a keyset range
``lo..hi`` of user ids) for business date ``on`` and is safe to run twice:
the chunk's completion row is written in the transaction of its effects, and
a second run finds it and does nothing. Steps take an engine, not a broker: a
test or the scenario runner calls them directly; Celery tasks are thin
wrappers.
"""

from __future__ import annotations

from workers.steps.applications import expire_applications
from workers.steps.bureau import bureau_month_correction, bureau_month_file
from workers.steps.collect import collect_chunk
from workers.steps.common import (
    COLLECT,
    DEDUCT,
    LIMIT,
    OVERDUE_STEP,
    RECONCILE,
    SCORE,
    chunk_tx,
)
from workers.steps.deduct import deduct, deduct_step
from workers.steps.handoff import HANDOFF_HELD, handoff_pass, no_agency
from workers.steps.limit import LIMIT_COLUMNS, limit_chunk, recalculate_limits
from workers.steps.notifications import (
    NOTIFICATION_EXPIRED,
    NOTIFICATION_PENDING,
    NOTIFICATION_SENT,
    dispatch_notifications,
)
from workers.steps.overdue import overdue_chunk
from workers.steps.reconcile import reconcile_chunk, reconcile_close, resolve_pending
from workers.steps.score import score_chunk

__all__ = [
    "COLLECT", "DEDUCT", "HANDOFF_HELD", "LIMIT", "LIMIT_COLUMNS", "NOTIFICATION_EXPIRED",
    "NOTIFICATION_PENDING", "NOTIFICATION_SENT", "OVERDUE_STEP", "RECONCILE", "SCORE",
    "bureau_month_correction", "bureau_month_file", "chunk_tx", "collect_chunk", "deduct",
    "deduct_step", "dispatch_notifications", "expire_applications", "handoff_pass",
    "limit_chunk", "no_agency", "overdue_chunk", "recalculate_limits", "reconcile_chunk",
    "reconcile_close", "resolve_pending", "score_chunk",
]
