"""What became of submitted tasks that did not do their work: rejections (a bad payload,
with the field and the reason, so a caller that cannot read task results finds out why)
and failures (an exception, since Redis has no dead-letter queue)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from store import schema as s
from store.cycle import insert_ignore


def record_rejection(conn: Connection, task_id: str, at: datetime, task: str, field: str,
                     reason: str) -> None:
    """Store why task ``task_id`` was rejected; a second rejection of it is ignored."""
    insert_ignore(conn, s.rejections, [{"task_id": task_id, "at": at, "task": task,
                                        "field": field, "reason": reason}])


def record_failure(conn: Connection, at: datetime, task: str, task_id: str, args: Any,
                   error: str) -> None:
    """Store a task's failure (its keyword arguments and the traceback's tail)."""
    conn.execute(insert(s.task_failures).values(at=at, task=task, task_id=task_id, args=args,
                                                error=error))


def rejection_of(conn: Connection, task_id: str) -> tuple[str, str] | None:
    """(field, reason) of the rejection of task ``task_id``, if it was rejected."""
    r = s.rejections.c
    row = conn.execute(select(r.field, r.reason).where(r.task_id == task_id)).first()
    return None if row is None else (row.field, row.reason)
