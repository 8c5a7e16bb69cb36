"""Structured worker logs: one JSON object per line, with personal data masked.

Every record carries the business date, step and chunk it belongs to (bound
by the chunk task with ``bind``, or read from the running task's keyword
arguments), and the task's name and id. ``MaskingFilter`` rewrites the
message and any traceback before a handler writes them: Chinese mobile
numbers (11 digits) keep their first 3 and last 2 digits, resident ID
numbers (18 characters) their first 3 and last 2, and names given to it
their first character, the same masking the agency handoff uses.

The worker installs both through Celery's ``after_setup_logger`` and
``after_setup_task_logger`` signals. ``CREDITCYCLE_LOG_FORMAT=text`` keeps
Celery's text format (still masked).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger, task_postrun

from workers import hooks, settings

FORMAT_ENV = "CREDITCYCLE_LOG_FORMAT"
FIELDS = ("business_date", "step", "chunk")

_context: ContextVar[dict[str, Any] | None] = ContextVar("creditcycle_log_context",
                                                         default=None)

# A mainland mobile number as people write it: 13800000000, with the country code
# (+86, 0086 or 86, optionally followed by a space or hyphen), and grouped 3-4-4 by spaces
# or hyphens (138 0000 0000, 138-0000-0000).
MOBILE = re.compile(r"""
    (?<![0-9A-Za-z])
    (?P<country>(?:\+|00)?86[ -]?)?
    (?P<number>1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4})
    (?![0-9A-Za-z])
""", re.VERBOSE)
ID_CARD = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")


def mask_mobile(number: str) -> str:
    """A mobile number with all but its first three and last two digits masked."""
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


def _mask_grouped(match: re.Match[str]) -> str:
    """The country code as written; of the number, the first 3 and last 2 digits and the
    separators, every other digit a ``*``."""
    number = match.group("number")
    digits = [i for i, ch in enumerate(number) if ch.isdigit()]
    hidden = set(digits[3:-2])
    return (match.group("country") or "") + "".join(
        "*" if i in hidden else ch for i, ch in enumerate(number))


def mask_text(text: str, names: Iterable[str] = ()) -> str:
    """``text`` with mobile numbers, ID card numbers and the given names masked."""
    text = ID_CARD.sub(lambda m: mask_mobile(m.group(0)), text)
    text = MOBILE.sub(_mask_grouped, text)
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        text = text.replace(name, name[0] + "*")
    return text


# ---------------------------------------------------------------- context
def bind(*, date: str | None = None, step: str | None = None, chunk: int | None = None
         ) -> None:
    """Attach a business date, step and chunk to every record of the current task."""
    _context.set({"business_date": date, "step": step, "chunk": chunk})


def clear() -> None:
    """Forget the log context of the current task."""
    _context.set(None)


@contextmanager
def bound(*, date: str | None = None, step: str | None = None,
          chunk: int | None = None) -> Iterator[None]:
    """Add the business date, step and chunk to every record logged inside."""
    token = _context.set({"business_date": date, "step": step, "chunk": chunk})
    try:
        yield
    finally:
        _context.reset(token)


def _task() -> Any | None:
    from celery import current_task

    task = current_task
    return None if task is None or getattr(task, "request", None) is None else task


def current_fields() -> dict[str, Any]:
    """The business date, step, chunk, task name and id of the record being logged."""
    fields: dict[str, Any] = {}
    task = _task()
    if task is not None:
        request = task.request
        if getattr(request, "id", None):
            fields["task_id"] = request.id
            fields["task"] = task.name
        kwargs = getattr(request, "kwargs", None) or {}
        if isinstance(kwargs, dict):
            for key, field in (("date", "business_date"), ("step", "step"),
                               ("chunk_no", "chunk")):
                if kwargs.get(key) is not None:
                    fields[field] = kwargs[key]
    bound_now = _context.get()
    if bound_now:
        fields.update({k: v for k, v in bound_now.items() if v is not None})
    return fields


class ContextFilter(logging.Filter):
    """Adds business_date, step, chunk, task and task_id to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the current context's fields the record does not have."""
        for key, value in current_fields().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class MaskingFilter(logging.Filter):
    """Masks phone numbers, ID card numbers and given names in the message and traceback."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        super().__init__()
        self.names = set(names)
        self._formatter = logging.Formatter()

    def add_names(self, names: Iterable[str]) -> None:
        """Mask these names too from now on."""
        self.names.update(n for n in names if n)

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask (``mask_text``) the message, traceback and fields, once per record."""
        if getattr(record, "_creditcycle_masked", False):
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = mask_text(message, self.names)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text, self.names)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info, self.names)
        for key in FIELDS:
            value = getattr(record, key, None)
            if isinstance(value, str):
                setattr(record, key, mask_text(value, self.names))
        setattr(record, "_creditcycle_masked", True)  # noqa: B010 (not a LogRecord field)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, context, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key in (*FIELDS, "task", "task_id"):
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


MASKING = MaskingFilter()


def install(logger: logging.Logger, *, json_format: bool | None = None,
            masking: MaskingFilter = MASKING) -> None:
    """Give every handler of ``logger`` the context and masking filters (and JSON)."""
    if json_format is None:
        json_format = settings.get().log_format != "text"
    for handler in logger.handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(masking)
        if json_format:
            handler.setFormatter(JsonFormatter())


@hooks.on(after_setup_logger)
def _root_logger(logger: logging.Logger | None = None, **_: Any) -> None:
    if logger is not None:
        install(logger)


@hooks.on(after_setup_task_logger)
def _task_logger(logger: logging.Logger | None = None, **_: Any) -> None:
    if logger is not None:
        install(logger)


@hooks.on(task_postrun)
def _forget_context(**_: Any) -> None:
    clear()
