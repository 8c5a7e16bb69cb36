"""The way in from files: ``events record FILE.jsonl`` and ``users upsert FILE.jsonl``.

The whole file is checked first (a bad line is named ``FILE:LINE`` and nothing is
sent); then it goes in batches of up to 1,000 to the same tasks as every other
producer, run here without a broker or on the workers with ``REDIS_URL``.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from cli.common import env_settings, fail, url_or_exit
from domain.commands import InputError
from workers import settings

EVENTS_TASK = "creditcycle.events.record"
USERS_TASK = "creditcycle.users.upsert"
_ITEM = re.compile(r"^(events|users)\[(\d+)\]\.?")


def _read(path: Path) -> list[tuple[int, Any]]:
    """The file's items with their line numbers (blank lines skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(InputError(str(path), f"cannot be read: {exc}"))
    items = []
    for no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                items.append((no, json.loads(line)))
            except ValueError as exc:
                fail(InputError(f"{path}:{no}", f"not a JSON object: {exc}"))
    if not items:
        fail(InputError(str(path), "holds no items"))
    return items


def _batches(items: list[tuple[int, Any]], size: int) -> list[list[tuple[int, Any]]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _at_line(path: Path, batch: Sequence[tuple[int, Any]], exc: InputError) -> InputError:
    """``events[3].amount`` of a batch as ``FILE:LINE: amount``."""
    m = _ITEM.match(exc.field)
    if m is None or int(m.group(2)) >= len(batch):
        return InputError(f"{path}:{batch[0][0]}-{batch[-1][0]}: {exc.field}", exc.message)
    rest = exc.field[m.end():]
    return InputError(f"{path}:{batch[int(m.group(2))][0]}" + (f": {rest}" if rest else ""),
                      exc.message)


def _run(path: Path, task: str, field: str, size: int, database_url: str | None,
         timeout: int, done: Callable[[Callable[[], str], list[Any], int], dict[str, Any]],
         ) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from cli import api

    settings.export("DATABASE_URL", url_or_exit(database_url))
    batches = _batches(_read(path), size)
    for batch in batches:  # the whole file first: nothing is sent if a line is bad
        try:
            api.validate(task, {field: [item for _, item in batch]})
        except InputError as exc:
            fail(_at_line(path, batch, exc))
    broker = bool(env_settings().redis_url)
    totals: dict[str, Any] = {}
    with Progress(TextColumn(f"{path.name}"), BarColumn(), MofNCompleteColumn(),
                  console=_stderr(), transient=True) as bar:
        job = bar.add_task(task, total=sum(len(b) for b in batches))
        for batch in batches:
            items = [item for _, item in batch]
            try:
                if broker:
                    out = done(functools.partial(api.submit, task, **{field: items}), items,
                               timeout)
                else:
                    out = api.run_here(task, **{field: items})
            except InputError as exc:
                fail(_at_line(path, batch, exc))
            for k, v in out.items():
                totals[k] = totals.get(k, 0 if isinstance(v, int) else []) + v
            bar.advance(job, len(batch))
    _summary(totals)


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _summary(totals: dict[str, Any]) -> None:
    refused = totals.get("refused", [])
    counts = {k: v for k, v in totals.items() if k != "refused"}
    line = " ".join(f"{k}={v}" for k, v in counts.items())
    if "refused" in totals:
        line += f" refused={len(refused)}"
    click.echo(line, err=True)
    for r in refused:
        click.echo(f"refused: {r['kind']} {r.get('loan_id') or ''} of {r['user_id']}: "
                   f"{r['reason']}", err=True)
    click.echo(json.dumps(totals, sort_keys=True))


def _wait(task_id: str, check: Callable[[Any], dict[str, Any] | None], timeout: int) -> (
        dict[str, Any]):
    """Until ``check`` sees the batch's effect, or the task is rejected (exit 2)."""
    from store.engine import make_engine
    from store.task_records import rejection_of

    engine = make_engine(url_or_exit(None))
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                rejected = rejection_of(conn, task_id)
                out = None if rejected else check(conn)
            if rejected is not None:
                raise InputError(*rejected)
            if out is not None:
                return out
            if time.monotonic() > deadline:
                raise click.ClickException(f"task {task_id} gave no answer in {timeout}s; "
                                           "sending the file again is safe")
            time.sleep(0.2)
    finally:
        engine.dispose()


def _read_now(read: Callable[[Any], Any]) -> Any:
    from store.engine import make_engine

    engine = make_engine(url_or_exit(None))
    try:
        with engine.connect() as conn:
            return read(conn)
    finally:
        engine.dispose()


def _events_done(send: Callable[[], str], items: list[Any], timeout: int) -> dict[str, Any]:
    """Through a broker: the keys recorded before, then the outcome of every key."""
    from store.events import outcomes

    keys = sorted({str(x["key"]) for x in items})
    before = set(_read_now(lambda conn: outcomes(conn, keys)))

    def check(conn: Any) -> dict[str, Any] | None:
        found = outcomes(conn, keys)
        if len(found) < len(keys):
            return None
        fresh = [x for x in items if str(x["key"]) not in before]
        refused = [{"kind": x["kind"], "user_id": x["user"], "loan_id": x.get("loan"),
                    "reason": found[str(x["key"])]} for x in fresh
                   if found[str(x["key"])] != "applied"]
        return {"applied": len({str(x["key"]) for x in fresh}) - len(refused),
                "already_recorded": len(before), "refused": refused}

    return _wait(send(), check, timeout)


def _users_done(send: Callable[[], str], items: list[Any], timeout: int) -> dict[str, Any]:
    """Through a broker: which users were there before, then all of them."""
    from store.users import existing

    ids = [str(x["id"]) for x in items]
    before = _read_now(lambda conn: existing(conn, ids))

    def check(conn: Any) -> dict[str, Any] | None:
        if len(existing(conn, ids)) < len(ids):
            return None
        return {"created": len(ids) - len(before), "updated": len(before)}

    return _wait(send(), check, timeout)


_OPTIONS = [
    click.option("--batch-size", type=click.IntRange(1, 1000), default=1000, show_default=True),
    click.option("--database-url", default=None),
    click.option("--timeout", type=click.IntRange(1, 3600), default=120, show_default=True,
                 help="With REDIS_URL: seconds to wait for the workers' answer per batch."),
]


def _with_options(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


@click.group()
def events() -> None:
    """Events from the platform (SPEC 11-13)."""


@events.command("record")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@_with_options
def record(file: Path, batch_size: int, database_url: str | None, timeout: int) -> None:
    """Record the events of FILE.jsonl (one JSON event a line, each with its key).

    The whole file is checked before anything is sent; a batch the workers refuse
    (an unknown user, KEY_REUSED) exits 2 naming the line. The earlier batches stay
    recorded: sending the file again is safe, every event is idempotent by its key."""
    _run(file, EVENTS_TASK, "events", batch_size, database_url, timeout, _events_done)


@click.group()
def users() -> None:
    """Users from the platform (SPEC 12-13)."""


@users.command("upsert")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@_with_options
def upsert(file: Path, batch_size: int, database_url: str | None, timeout: int) -> None:
    """Create or update the users of FILE.jsonl (one JSON user a line). Score, limit and
    opening balances apply when a user is created only; national ID and card numbers
    are refused by name."""
    _run(file, USERS_TASK, "users", batch_size, database_url, timeout, _users_done)
