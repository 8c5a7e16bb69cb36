"""Collection agencies (SPEC 6): added and retired by an operator, read by the handoff pass.

A retired agency gets no new handoffs and keeps its open cases; adding it again makes it
active again. Names are the key: cases and handoffs carry the name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select, update

from store import schema as s
from store.cycle import insert_ignore


@dataclass(frozen=True, slots=True)
class Agency:
    name: str
    retired_at: datetime | None
    open_cases: int


def open_cases_of_active(conn: Connection) -> dict[str, int]:
    """Each active agency's open cases (0 for one with none): what the handoff pass
    balances. Cases of retired agencies are not counted: nobody new goes there."""
    a, c = s.agencies.c, s.collection_cases.c
    counts = dict.fromkeys(conn.execute(select(a.name).where(a.retired_at.is_(None))
                                        .order_by(a.name)).scalars(), 0)
    if counts:
        for name, n in conn.execute(select(c.agency, func.count()).where(
                c.stage == "agency", c.agency.in_(list(counts)), c.closed_on.is_(None))
                .group_by(c.agency)):
            counts[name] = int(n)
    return counts


def listing(conn: Connection) -> list[Agency]:
    """Every agency, retired ones too, with its open agency cases, by name."""
    a, c = s.agencies.c, s.collection_cases.c
    open_cases = (select(func.count()).where(c.agency == a.name, c.stage == "agency",
                                             c.closed_on.is_(None)).scalar_subquery())
    return [Agency(r.name, r.retired_at, int(r.open_cases)) for r in conn.execute(
        select(a.name, a.retired_at, open_cases.label("open_cases")).order_by(a.name))]


def exists(conn: Connection, name: str) -> bool:
    """Whether ``name`` is an agency (active or retired)."""
    a = s.agencies.c
    return conn.execute(select(a.name).where(a.name == name)).first() is not None


def add(conn: Connection, name: str) -> bool:
    """Make ``name`` an active agency; False when it already was one."""
    if insert_ignore(conn, s.agencies, [{"name": name, "retired_at": None}]):
        return True
    a = s.agencies.c
    result = conn.execute(update(s.agencies).where(a.name == name, a.retired_at.is_not(None))
                          .values(retired_at=None))
    return result.rowcount == 1


def retire(conn: Connection, name: str, at: datetime) -> bool:
    """Retire the agency ``name`` (which must exist); False when it already was retired."""
    a = s.agencies.c
    result = conn.execute(update(s.agencies).where(a.name == name, a.retired_at.is_(None))
                          .values(retired_at=at))
    return result.rowcount == 1


def insert_new(conn: Connection, names: Sequence[str]) -> None:
    """Insert new active agencies (a repeated name violates the key)."""
    if names:
        conn.execute(insert(s.agencies), [{"name": n} for n in names])
