"""The Python API for programs that submit work: validated first, then sent.

A bad payload raises ``InputError`` naming the field here, before anything
reaches the broker; the workers validate again (Flower's task API and other
producers bypass this module), store the rejection and change nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from domain import intake
from domain.commands import InputError, first_error
from workers import payloads

TASKS: dict[str, type[BaseModel]] = {
    "creditcycle.cycle.run": payloads.CycleRun,
    "creditcycle.cycle.chunk": payloads.Chunk,
    "creditcycle.cycle.watchdog": payloads.Empty,
    "creditcycle.cycle.release": payloads.Release,
    "creditcycle.deduct.attempt": payloads.Attempt,
    "creditcycle.ledger.prove": payloads.Empty,
    "creditcycle.reconcile.pending": payloads.Empty,
    "creditcycle.applications.expire": payloads.Empty,
    "creditcycle.relay.notifications": payloads.Empty,
    "creditcycle.relay.agencies": payloads.Empty,
    "creditcycle.relay.bureau": payloads.Empty,
    "creditcycle.repay": payloads.Repay,
    "creditcycle.limit.recalc": payloads.LimitRecalc,
    "creditcycle.agencies.add": payloads.Agency,
    "creditcycle.agencies.retire": payloads.Agency,
    "creditcycle.events.record": payloads.EventsRecord,
    "creditcycle.users.upsert": payloads.UsersUpsert,
}


def _deep(task: str, clean: dict[str, Any]) -> None:
    """The batches are checked item by item here too, so that ``submit`` names the bad
    event before anything reaches the broker (the worker checks again, with its clock)."""
    if task == "creditcycle.events.record":
        from schedules import business_date
        from workers import runtime

        config = runtime.config()
        intake.parse_records(clean["events"], now=business_date.now(config.time_zone),
                             zone=config.time_zone, late_event_days=config.late_event_days)
    elif task == "creditcycle.users.upsert":
        intake.parse_users(clean["users"])


def validate(task: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The payload of ``task`` validated (unknown task or bad field: InputError)."""
    model = TASKS.get(task)
    if model is None:
        raise InputError("task", f"unknown task {task!r}; one of {', '.join(sorted(TASKS))}")
    try:
        clean = model.model_validate(kwargs).model_dump(exclude_none=True)
    except ValidationError as exc:
        raise first_error(exc, "") from None
    _deep(task, clean)
    return clean


def submit(task: str, /, **kwargs: Any) -> str:
    """Validate and send ``task``; returns the task id."""
    clean = validate(task, {k: v for k, v in kwargs.items() if v is not None})
    from workers.celery_app import app

    return str(app.send_task(task, kwargs=clean, queue="cycle").id)


def run_here(task: str, /, **kwargs: Any) -> Any:
    """Validate and run ``task`` in this process (no broker), returning its result."""
    clean = validate(task, {k: v for k, v in kwargs.items() if v is not None})
    import workers.relays.tasks  # registers the relays' tasks
    import workers.tasks  # noqa: F401  (registers the tasks)
    from workers.celery_app import app

    result = app.tasks[task].apply(kwargs=clean)
    if result.state == "REJECTED":  # the task refused it (e.g. an unknown user): name the field
        field, _, message = str(getattr(result.result, "reason", result.result)).partition(": ")
        raise InputError(field, message)
    if result.failed():
        raise result.result
    return result.result
