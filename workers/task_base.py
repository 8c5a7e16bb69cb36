"""The one base of every Celery task, ``CreditTask``: the cross-cutting rules.

Payload validation with a stored rejection, retries on exact exception types
with backoff and a cap, and failures recorded in a table (Redis has no
dead-letter queue). ``workers.tasks`` holds the tasks themselves.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from typing import Any, TypeVar

from celery import Task
from celery.exceptions import Reject
from pydantic import BaseModel, ValidationError

from domain.commands import first_error
from store import task_records
from store.engine import DBAPIError, OperationalError, now
from workers import runtime
from workers.bank import ChannelTimeout

log = logging.getLogger("creditcycle.tasks")
P = TypeVar("P", bound=BaseModel)



class CreditTask(Task):  # type: ignore[misc]
    """The one base task: validation, retries, failure records."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    autoretry_for = (OperationalError, ChannelTimeout)
    retry_backoff = 2
    retry_backoff_max = 60
    retry_jitter = True
    max_retries = 8
    # Every task takes (self, /, *args, **kwargs) and validates its payload itself, so a
    # bad payload is rejected with a stored reason; Celery's sender-side signature check
    # would only refuse a kwarg named "self" with a TypeError and no rejection row.
    typing = False

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        """Run the task; a keyword named ``self`` is rejected."""
        # Celery's own call wrappers take ``self`` by keyword too: refuse that key here.
        if "self" in kwargs:
            self._reject("self", "unknown field")
        return super().__call__(*args, **kwargs)

    def validate(self, model: type[P], kwargs: dict[str, Any], args: Iterable[Any] = ()) -> P:
        """The payload as ``model``; a bad one is rejected with a stored reason."""
        try:
            if tuple(args):
                raise ValueError("positional arguments are not accepted; use keyword arguments")
            return model.model_validate(kwargs)
        except ValidationError as exc:
            err = first_error(exc, "")
            self._reject(err.field, err.message)
        except ValueError as exc:
            self._reject("args", str(exc))
        raise AssertionError("unreachable")

    def _reject(self, field: str, reason: str) -> None:
        task_id = self.request.id or "local"
        field = field.replace("\x00", "\\x00")[:200]  # fits the column on PostgreSQL
        log.warning("rejected %s %s: %s: %s", self.name, task_id, field, reason)
        try:
            with runtime.engine().begin() as conn:
                task_records.record_rejection(conn, task_id, now(), self.name, field, reason)
        except DBAPIError:
            log.exception("could not store the rejection of %s", task_id)
        raise Reject(f"{field}: {reason}", requeue=False)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                   einfo: Any) -> None:
        """Record a failure (not a rejection) in task_failures."""
        if isinstance(exc, Reject):
            return
        try:
            with runtime.engine().begin() as conn:
                task_records.record_failure(
                    conn, now(), self.name, task_id, kwargs,
                    "".join(traceback.format_exception(exc))[-4000:])
        except DBAPIError:
            log.exception("could not record the failure of %s", task_id)

