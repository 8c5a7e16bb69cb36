"""A comparable picture of the business state: every table that holds money or
decisions, without bookkeeping (cycle rows, attempts, failures) or surrogate ids.

Used to prove that a redelivered message changed nothing, and that a night
with faults ends exactly where a clean night ends.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from store import schema as s

BOOKKEEPING = {"cycle_runs", "cycle_chunks", "chunk_runs", "held_users", "task_failures",
               "rejections", "alembic_version", "outbox_batches"}
SURROGATE = {"id"}
# The order rows were written in, which parallel chunks and retries change without
# changing what was decided: postings' write order, and the proof's marks, which point
# into it (their amounts and dates stay compared).
WRITE_ORDER = {("postings", "seq"), ("ledger_marks", "upto")}
DELIVERY = {"out_key", "notice_key"}  # which batch carried a row: the relays' bookkeeping


def snapshot(conn: Connection, *, skip: set[str] | frozenset[str] = frozenset(),
             drop: set[str] | frozenset[str] = frozenset(),
             settlements: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """All business rows. ``drop`` leaves out columns of that name everywhere;
    ``settlements=False`` leaves out the day's settlement journals, whose split
    depends on when card money was taken, not on what was taken."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in s.metadata.sorted_tables:
        if table.name in BOOKKEEPING or table.name in skip:
            continue
        cols = [c for c in table.columns if c.name not in SURROGATE and c.name not in drop
                and (table.name, c.name) not in WRITE_ORDER
                and c.name not in DELIVERY
                and not (table.name == "notifications" and c.name == "status")]
        q = select(*cols)
        if not settlements and table.name == "journals":
            q = q.where(table.c.kind != "settlement")
        if not settlements and table.name == "postings":
            q = q.where(table.c.journal_key.not_like("settle:%"))
        rows = conn.execute(q).all()
        out[table.name] = sorted((tuple(_plain(v) for v in r) for r in rows), key=repr)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _plain(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def differences(a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]],
                limit: int = 5) -> list[str]:
    """Human-readable differences between two snapshots (empty when equal)."""
    out = []
    for name in sorted(set(a) | set(b)):
        ra, rb = set(a.get(name, [])), set(b.get(name, []))
        if ra != rb:
            only_a, only_b = sorted(ra - rb, key=repr)[:limit], sorted(rb - ra, key=repr)[:limit]
            out.append(f"{name}: {len(ra - rb)} rows only in the first {only_a}, "
                       f"{len(rb - ra)} only in the second {only_b}")
    return out
