"""Typed wrappers around Celery's decorators (Celery ships no type information).

Decorating with ``@signal.connect`` or ``@app.task`` directly makes every decorated
function untyped for mypy. These two wrappers say what they take and give, so the
functions below them stay checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., None])


def on(signal: Any) -> Callable[[Handler], Handler]:
    """Connect the decorated function to a Celery ``signal``; the function is returned as is.

    Celery holds its receivers weakly: the module that defines the function keeps it alive.
    """

    def connect(handler: Handler) -> Handler:
        signal.connect(handler)
        return handler

    return connect


def task(app: Any, name: str, base: type[Any]) -> Callable[[Callable[..., dict[str, Any]]], Any]:
    """Register the decorated function as a bound task ``name`` of ``app`` on ``base``.

    What is returned is Celery's task object (``apply_async``, ``delay``, ...), untyped.
    """

    def register(body: Callable[..., dict[str, Any]]) -> Any:
        return app.task(bind=True, base=base, name=name)(body)

    return register
