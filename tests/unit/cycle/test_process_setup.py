"""What each worker process sets up for itself after the fork."""

from __future__ import annotations

import gc

from workers import celery_app


def test_a_fresh_worker_process_collects_cycles_rarely_and_never_walks_what_it_inherited(
) -> None:
    before = gc.get_threshold()
    try:
        celery_app._fresh_process()
        assert gc.get_threshold() == celery_app.GC_THRESHOLD
        assert gc.get_threshold()[0] >= 10_000
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
