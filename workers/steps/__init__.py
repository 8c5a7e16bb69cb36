"""The step functions of the nightly cycle: load a chunk, let the domain decide, write it.

One module per step. Each function closes one chunk of users (a keyset range
``lo..hi`` of user ids) for business date ``on`` and is safe to run twice:
the chunk's completion row is written in the transaction of its effects, and
a second run finds it and does nothing. Steps take an engine, not a broker: a
test or the scenario runner calls them directly; Celery tasks are thin
wrappers.
"""

from __future__ import annotations

from datetime import date

from domain.config import ProductConfig
from domain.deduction import CLOSE_OF_BUSINESS
from domain.steps import RELEASE_RUN, Step, StepKey
from store.engine import Engine
from workers.bank import BankChannel
from workers.steps.bureau import bureau_month_correction, bureau_month_file
from workers.steps.collect import collect_chunk
from workers.steps.common import chunk_tx
from workers.steps.deduct import deduct, deduct_key
from workers.steps.handoff import HANDOFF_HELD, handoff_pass, no_agency
from workers.steps.limit import LIMIT_COLUMNS, limit_chunk, recalculate_limits
from workers.steps.overdue import overdue_chunk
from workers.steps.reconcile import reconcile_chunk, reconcile_close, resolve_pending
from workers.steps.score import score_chunk

_CHUNK_STEPS = {Step.OVERDUE: overdue_chunk, Step.SCORE: score_chunk, Step.LIMIT: limit_chunk,
                Step.COLLECT: collect_chunk}


def run(engine: Engine, on: date, key: StepKey, chunk_no: int, lo: str, hi: str,
        config: ProductConfig, channel: BankChannel) -> int:
    """Do one chunk of one step (a single step's only chunk is 0): the one place that
    maps steps to their functions. Returns the rows written (a proof: its problems)."""
    match key.step:
        case Step.DEDUCT:
            return deduct(engine, on, lo, hi, chunk_no, config, channel,
                          key.attempt or CLOSE_OF_BUSINESS, key=key)
        case Step.RECONCILE:
            return reconcile_chunk(engine, on, lo, hi, chunk_no, config, channel, key=key)
        case Step.HANDOFF:
            return handoff_pass(engine, on, key=key)
        case Step.RECONCILE_CLOSE:
            return len(reconcile_close(engine, on, key=key))
        case Step.BUREAU_FILE if key.run == RELEASE_RUN:
            return bureau_month_correction(engine, on, lo, hi, chunk_no, key=key)
        case Step.BUREAU_FILE:
            return bureau_month_file(engine, on, key=key)
        case _:
            return _CHUNK_STEPS[key.step](engine, on, lo, hi, chunk_no, config, key=key)


__all__ = [
    "HANDOFF_HELD", "LIMIT_COLUMNS", "bureau_month_correction", "bureau_month_file", "chunk_tx",
    "collect_chunk", "deduct", "deduct_key",
    "handoff_pass", "limit_chunk", "no_agency", "overdue_chunk", "recalculate_limits",
    "reconcile_chunk", "reconcile_close", "resolve_pending", "run", "score_chunk",
]
