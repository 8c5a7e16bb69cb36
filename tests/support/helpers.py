"""Portfolios, snapshots and statement counters for the integration tests.

A portfolio is seeded with the scenario runner's own ``parse`` and ``seed``
(users, card balances, agencies); loans are added here so that each one can
count its installments as paid up to a date of its own (``paid_before``),
which puts loans at any DPD on a chosen business date without closing the
days in between.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine, event, select

from domain import lending
from store import journals as journal_rows
from store import loans as loan_rows
from store import schema as s
from store.engine import make_engine, migrate
from workers.ingest import apply_events
from workers.scenario import Scenario, parse, seed

START = date(2026, 2, 1)


@dataclass(frozen=True)
class LoanSpec:
    id: str
    user: str
    principal: int
    annual_rate_bp: int
    term_months: int
    disbursed: date
    paid_before: date = START


def migrated_engine(url: str) -> Engine:
    migrate(url)
    return make_engine(url)


def seed_portfolio(engine: Engine, users: Sequence[dict[str, Any]], loans: Sequence[LoanSpec],
                   *, agencies: Sequence[str] = (), events: Sequence[dict[str, Any]] = (),
                   config: dict[str, Any] | None = None, start: date = START,
                   end: date | None = None) -> Scenario:
    """Seed users and agencies with the scenario seeder, then the loans; apply ``events``.
    A user may carry ``card_token`` (a string, or None for no linked card) over the
    seeder's made-up one."""
    tokens = {u["id"]: u["card_token"] for u in users if "card_token" in u}
    users = [{k: v for k, v in u.items() if k != "card_token"} for u in users]
    sc = parse({"config": config or {}, "agencies": list(agencies), "users": list(users),
                "loans": [], "events": list(events),
                "run": {"from": start.isoformat(), "to": (end or start).isoformat()}})
    seed(engine, sc)
    built = []
    journals = []
    for spec in loans:
        loan = lending.new_loan(spec.id, spec.user, spec.principal, spec.annual_rate_bp,
                                spec.term_months, spec.disbursed)
        journals.append(lending.bring_in(loan, start, spec.paid_before))
        built.append(loan)
    with engine.begin() as conn:
        for uid, token in tokens.items():
            conn.execute(s.users.update().where(s.users.c.id == uid).values(card_token=token))
        loan_rows.insert_loans(conn, built)
        journal_rows.insert_journals(conn, journals)
        for x in built:
            conn.execute(s.users.update().where(s.users.c.id == x.user_id)
                         .values(last_disbursed=x.disbursed))
    if sc.events:
        with engine.begin() as conn:
            apply_events(conn, [(f"seed:{i}", e) for i, e in enumerate(sc.events)])
    return sc


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a backend-independent order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in s.metadata.sorted_tables:
            rows = [tuple(r) for r in conn.execute(select(table))]
            out[table.name] = sorted(rows, key=repr)
    return out


def changed_tables(before: dict[str, list[tuple[Any, ...]]],
                   after: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    return sorted(name for name in before if before[name] != after[name])


@dataclass
class StatementLog:
    statements: list[str]

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_statements(engine: Engine) -> Iterator[StatementLog]:
    """Every statement sent to the database while the block runs (an executemany is one)."""
    log = StatementLog([])

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        log.statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)
