"""The Celery application: JSON only, late acks, one base Task that owns the rules.

Engines are made per worker process after fork, never at import time. Every
task has a hard time limit well under the broker's visibility timeout, so the
work of a SIGKILLed worker comes back in minutes.
"""

from __future__ import annotations

import gc
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_process_shutdown

from workers import hooks, settings

TASK_TIME_LIMIT = settings.get().task_time_limit
VISIBILITY_TIMEOUT = settings.get().broker_visibility_timeout
CYCLE_QUEUE = "cycle"


def redis_url() -> str:
    """The broker URL: $REDIS_URL, else a local Redis."""
    return settings.get().redis_url or "redis://127.0.0.1:6379/0"


def business_time_zone() -> str:
    """Beat's time zone: the business date's, ``time_zone`` of the product configuration."""
    from workers import runtime

    return runtime.config().time_zone


def make_app() -> Celery:
    """The Celery application with the settings above and beat's schedule."""
    from workers import broker

    broker.install()  # redis:// consumes through workers.broker (malformed messages dropped)
    app = Celery("creditcycle", include=["workers.tasks", "workers.relays.tasks"])
    transport = {"visibility_timeout": VISIBILITY_TIMEOUT}
    app.conf.update(
        broker_url=redis_url(),
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        event_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_soft_shutdown_timeout=30.0,
        task_time_limit=TASK_TIME_LIMIT,
        task_soft_time_limit=max(TASK_TIME_LIMIT - 30, 10),
        task_default_queue=CYCLE_QUEUE,
        task_send_sent_event=True,
        worker_send_task_events=True,
        timezone=business_time_zone(),
        enable_utc=True,
        worker_hijack_root_logger=False,
    )
    from schedules.beat import beat_schedule, schedule_file

    app.conf.beat_schedule = beat_schedule()
    app.conf.beat_scheduler = "schedules.beat:StateDirScheduler"
    app.conf.beat_schedule_filename = schedule_file()
    return app


app = make_app()


# A chunk allocates hundreds of thousands of short-lived objects (rows, loans,
# installments, decisions). Each full collection walked the whole heap, modules
# and libraries included, many times per chunk: at 1M users that cost a quarter
# of the workers' CPU. What a process inherits (modules, the app) is frozen out
# of the collector, and young objects are collected every 10,000 allocations
# rather than 700. Memory stays bounded by the chunk: a much higher threshold
# saved little more CPU and let a worker's peak grow with the portfolio.
GC_THRESHOLD = (10_000, 10, 10)


@hooks.on(worker_init)
def _bank_configured(**_: Any) -> None:
    from workers import bank

    bank.require_bank(settings.get())  # no bank, no worker: one line naming the variable


@hooks.on(worker_process_init)
def _fresh_process(**_: Any) -> None:
    from workers import runtime

    runtime.reset()
    gc.freeze()  # what the process inherited (modules, app) is never garbage
    gc.set_threshold(*GC_THRESHOLD)


@hooks.on(worker_process_shutdown)
def _process_down(**_: Any) -> None:
    from workers import runtime

    runtime.reset()
