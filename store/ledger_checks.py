"""Proofs of the ledger invariants (SPEC section 8), each a few set-based queries.

``check_day`` runs after every close: every invariant, for the accounts that
date's journals touched (its journals balance; each touched loan's receivable
equals its installments' outstanding; each touched wallet and fund equals its
postings; the bank clearing postings of the date equal the debits taken on it
minus what was settled); an account is read from its mark in ``ledger_marks`` plus
the postings written since, so a night's proof costs what the night wrote.
``check_all`` proves the same for the whole ledger, re-summing every posting
(weekly, and at the end of every scenario). Installments never owe less than
nothing (nothing collected beyond what is owed): the schema's check
constraints hold that. Run a proof inside ``consistent_view``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, text
from sqlalchemy.exc import OperationalError

from domain import ledger
from store import schema as s
from store.bulk import upsert_newer_many
from store.journals import insert_journals

DAY_PROOF = "ledger proof"
WHOLE_PROOF = "whole-ledger proof"


@contextmanager
def consistent_view(engine: Engine) -> Iterator[Connection]:
    """A transaction whose reads all see one moment: on PostgreSQL a REPEATABLE READ
    snapshot (under READ COMMITTED, a repayment committed between two of a proof's
    reads would look like a broken wallet); a SQLite transaction already is one."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")  # this connection's
        with conn.begin():
            yield conn


def _loan_account(account: Any) -> Any:
    return or_(account.like("loan:%"), account.like("written_off:%"))


def check_day(conn: Connection, on: date) -> list[str]:
    """What is broken in the ledger of ``on``: unbalanced journals, receivables, balances, bank
    clearing.

    An account's balance is proven from its mark (what the last proof found true of it) plus
    the postings written since, so the cost follows the date's work, not the account's
    history; an account proven true gets its mark moved forward, one that is not keeps its
    old mark, so it fails again until an operator acts.
    """
    found = [_day_part(conn, on, part) for part in _day_parts(1)]
    return _gather(conn, found)


#: Transactions a close's proof runs in side by side on PostgreSQL (``prove_day``): the
#: machine the targets name has two cores, and the close runs when no chunk does.
PROOF_PARTS = 2

# A part of the day's proof: (what, which share of the loans, of how many).
_Part = tuple[str, int, int]
# What a part found: its problems (each with the key it sorts by) and the marks to move.
_Found = tuple[list[tuple[tuple[int, str], str]], list[dict[str, Any]]]
_ORDER = {"journals": 0, "loan": 1, "wallet": 2, "fund": 3, "clearing": 4}


def prove_day(engine: Engine, on: date, parts: int = PROOF_PARTS) -> list[str]:
    """``check_day`` in one consistent view, its parts run side by side: on PostgreSQL in
    ``parts`` transactions that share one snapshot (the first exports it, the others import
    it), each on its own thread, the loans' receivables split between them by a hash of
    the loan id; the marks are moved by the first once every part has ended. Elsewhere
    (SQLite) one transaction runs them in turn. The problems are the same, in the same
    order, as ``check_day``'s."""
    with shared_views(engine, parts) as conns:
        plan = _day_parts(len(conns))
        if len(conns) == 1:
            return _gather(conns[0], [_day_part(conns[0], on, part) for part in plan])
        lanes = [plan[k::len(conns)] for k in range(len(conns))]
        with ThreadPoolExecutor(len(conns), thread_name_prefix="ledger-proof") as pool:
            runs = [pool.submit(lambda c, ps: [_day_part(c, on, x) for x in ps], c, lane)
                    for c, lane in zip(conns, lanes, strict=True)]
            found = [f for run in runs for f in run.result()]
        return _gather(conns[0], found)


def _day_parts(n: int) -> list[_Part]:
    """The day's proof cut in parts: each share of the loans first (the largest), then the
    rest, so that dealing them round-robin to ``n`` transactions evens their work."""
    return [*(("loan", k, n) for k in range(n)), ("wallet", 0, 1), ("journals", 0, 1),
            ("fund", 0, 1), ("clearing", 0, 1)]


def _day_part(conn: Connection, on: date, part: _Part) -> _Found:
    what, share, shares = part
    order = _ORDER[what]
    if what == "journals":
        return [((order, ""), p) for p in _unbalanced_journals(conn, on)], []
    if what == "clearing":
        return [((order, ""), p) for p in _clearing(conn, on)], []
    p, j = s.postings.c, s.journals.c
    owners = (select(p.owner).select_from(s.postings.join(s.journals, j.key == p.journal_key))
              .where(j.day == on, _account_of(what, p.account)).distinct())
    if shares > 1:
        owners = owners.where(func.abs(func.mod(func.hashtext(p.owner), shares)) == share)
    problems, marks = _proven_since_marks(conn, what, owners.cte(f"touched_{what}"), on)
    return [((order, owner), text) for owner, text in problems], marks


def _gather(conn: Connection, found: list[_Found]) -> list[str]:
    """The parts' problems in check order (and by owner), after the marks are moved."""
    _move_marks(conn, [m for _, marks in found for m in marks])
    return [text for _, text in sorted((p for problems, _ in found for p in problems),
                                       key=lambda x: x[0])]


@contextmanager
def shared_views(engine: Engine, n: int) -> Iterator[list[Connection]]:
    """``n`` transactions whose reads all see one moment (``consistent_view``'s), on
    PostgreSQL: the first exports its snapshot, the others import it before any read
    (``SET TRANSACTION SNAPSHOT``). Elsewhere, or for ``n`` < 2, one transaction."""
    with consistent_view(engine) as first:
        if first.dialect.name != "postgresql" or n < 2:
            yield [first]
            return
        snapshot = first.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        if not _SNAPSHOT_ID.fullmatch(snapshot):
            raise ValueError(f"an unexpected snapshot id from PostgreSQL: {snapshot!r}")
        with ExitStack() as stack:
            others = []
            for _ in range(n - 1):
                conn = stack.enter_context(engine.connect())
                conn.execution_options(isolation_level="REPEATABLE READ")
                stack.enter_context(conn.begin())
                conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
                others.append(conn)
            yield [first, *others]


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


def _unbalanced_journals(conn: Connection, on: date) -> list[str]:
    j, p = s.journals.c, s.postings.c
    rows = conn.execute(
        select(j.key, func.coalesce(func.sum(p.amount), 0))
        .select_from(s.journals.outerjoin(s.postings, p.journal_key == j.key))
        .where(j.day == on).group_by(j.key)
        .having(func.coalesce(func.sum(p.amount), 0) != 0)).all()
    return [f"journal {k} does not balance ({v})" for k, v in rows]


def _clearing(conn: Connection, on: date) -> list[str]:
    """The bank clearing postings of ``on`` against the debits taken on it minus what was
    settled."""
    j, p = s.journals.c, s.postings.c
    of_day = s.postings.join(s.journals, j.key == p.journal_key)
    booked = conn.execute(select(func.coalesce(func.sum(p.amount), 0)).select_from(of_day)
                          .where(j.day == on, p.account == ledger.BANK_CLEARING)).scalar_one()
    b = s.bank_debits.c
    taken = conn.execute(select(func.coalesce(func.sum(b.taken), 0))
                         .where(b.resolved_on == on, b.status == "debited")).scalar_one()
    settled = conn.execute(select(func.coalesce(func.sum(j.amount), 0))
                           .where(j.day == on, j.kind == "settlement")).scalar_one()
    if booked != taken - settled:
        return [f"bank clearing on {on}: postings {booked} != debits taken {taken} "
                f"- settled {settled}"]
    return []


def _account_of(kind: str, account: Any) -> Any:
    return _loan_account(account) if kind == "loan" else account.like(f"{kind}:%")


def _stored(kind: str, owner: Any) -> Any:
    """What the books say ``owner`` (a column) holds, a scalar subquery correlated to it: a
    loan's installments outstanding, or minus a user's wallet or fund (postings carry the
    platform's side, so they sum to minus it). Per owner one index lookup: never ``owner IN
    (the touched owners)``, which PostgreSQL, its estimate for the night's rows stale, ran as
    a nested loop over every pair of owners (quadratic: 4 s for 11,537 wallets at 1M users)."""
    if kind == "loan":
        i = s.installments.c
        return (select(func.sum(i.principal + i.interest + i.penalty - i.paid_principal
                                - i.paid_interest - i.paid_penalty))
                .where(i.loan_id == owner).scalar_subquery())
    u = s.users.c
    column = u.wallet if kind == "wallet" else u.fund
    return select(-column).where(u.id == owner).scalar_subquery()


def _proven_since_marks(conn: Connection, kind: str, owners: Any, on: date
                        ) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """(problems with their owner, marks to move) for ``owners`` (a CTE of owner ids): each
    one's mark plus its postings written after the mark, against what the books say it
    holds. One query: each owner's new postings are one index range (owner, seq), its old
    ones never read."""
    p, m = s.postings.c, s.ledger_marks.c
    rows = conn.execute(
        select(owners.c.owner, m.amount, m.upto, _stored(kind, owners.c.owner),
               func.sum(p.amount), func.max(p.seq))
        .select_from(
            owners.outerjoin(s.ledger_marks, and_(m.owner == owners.c.owner, m.kind == kind))
            .outerjoin(s.postings, and_(p.owner == owners.c.owner,
                                        p.seq > func.coalesce(m.upto, 0),
                                        _account_of(kind, p.account))))
        .group_by(owners.c.owner, m.amount, m.upto)
        .order_by(owners.c.owner))
    problems: list[tuple[str, str]] = []
    proven: list[dict[str, Any]] = []
    for owner, base, upto, held_now, added, last in rows:
        posted, books = int(base or 0) + int(added or 0), int(held_now or 0)
        if posted != books:
            problems.append((owner, _mismatch(kind, owner, books, posted)))
        elif last is not None and int(last) > int(upto or 0):
            proven.append({"owner": owner, "kind": kind, "amount": posted, "upto": int(last),
                           "day": on})
    return problems, proven


def _mismatch(kind: str, owner: str, held: int, posted: int) -> str:
    if kind == "loan":
        return f"loan {owner}: receivable {posted} != outstanding {held}"
    return f"user {owner}: {kind} {-held} != postings {-posted}"


def _move_marks(conn: Connection, marks: list[dict[str, Any]]) -> None:
    """Upsert the marks of the accounts just proven; a mark never moves backwards (a proof
    that started earlier and ends later leaves the newer mark). Marks only save work: a
    proof that cannot write them is still a proof. One statement for all of them (a night's
    proof moves tens of thousands: one server call each cost 1 s at 1M users)."""
    if not marks:
        return
    try:
        with conn.begin_nested():
            upsert_newer_many(conn, s.ledger_marks, ["owner", "kind"], "upto", marks)
    except OperationalError as exc:
        # Another proof of the same accounts committed marks after this one's snapshot
        # (two closers of one date, or a recheck during the close): under REPEATABLE READ
        # PostgreSQL refuses the update. Its marks are as new as these; the proof stands.
        if getattr(exc.orig, "sqlstate", None) != "40001":
            raise


def _receivables(conn: Connection, loans: Any | None) -> list[str]:
    """Each loan's receivable (its loan and written-off accounts) against its
    installments' outstanding; ``loans`` a select of loan ids, None for every loan."""
    p, i = s.postings.c, s.installments.c
    posted_q = select(p.owner, func.sum(p.amount)).where(_loan_account(p.account))
    owed_q = select(i.loan_id, func.sum(i.principal + i.interest + i.penalty - i.paid_principal
                                        - i.paid_interest - i.paid_penalty))
    if loans is not None:
        posted_q, owed_q = posted_q.where(p.owner.in_(loans)), owed_q.where(i.loan_id.in_(loans))
    by_owner = {r[0]: int(r[1]) for r in conn.execute(posted_q.group_by(p.owner))}
    owed = {r[0]: int(r[1]) for r in conn.execute(owed_q.group_by(i.loan_id))}
    return [f"loan {loan_id}: receivable {by_owner.get(loan_id, 0)} != "
            f"outstanding {owed.get(loan_id, 0)}"
            for loan_id in sorted(set(owed) | set(by_owner))
            if owed.get(loan_id, 0) != by_owner.get(loan_id, 0)]


def _balances(conn: Connection, kind: str, owners: Any | None) -> list[str]:
    """Each user's ``kind`` balance (wallet, fund) against minus its postings;
    ``owners`` a select of user ids, None for every user."""
    p, u = s.postings.c, s.users.c
    column = u.wallet if kind == "wallet" else u.fund
    posted_q = select(p.owner, func.sum(p.amount)).where(p.account.like(f"{kind}:%"))
    users_q = select(u.id, column)
    if owners is not None:
        posted_q, users_q = posted_q.where(p.owner.in_(owners)), users_q.where(u.id.in_(owners))
    posted = {owner: -int(v) for owner, v in conn.execute(posted_q.group_by(p.owner))}
    return [f"user {uid}: {kind} {balance} != postings {posted.get(uid, 0)}"
            for uid, balance in conn.execute(users_q) if posted.get(uid, 0) != balance]


def settle_bank_clearing(conn: Connection, on: date) -> int:
    """Move the card money taken on ``on`` from clearing to cash.

    Reads only that date's journals (not the clearing account's history), so
    the cost follows the day's work; what an earlier settlement of the same
    date already moved is subtracted, so running it again settles only the rest.
    """
    p, j = s.postings.c, s.journals.c
    balance = conn.execute(
        select(func.coalesce(func.sum(p.amount), 0))
        .select_from(s.postings.join(s.journals, j.key == p.journal_key))
        .where(j.day == on, p.account == ledger.BANK_CLEARING)).scalar_one()
    if balance <= 0:
        return 0
    n = conn.execute(select(func.count()).select_from(s.journals)
                     .where(j.kind == "settlement", j.day == on)).scalar_one()
    amount = int(balance)
    insert_journals(conn, [ledger.build(f"settle:{on.isoformat()}:{n}", on, "settlement", None,
                                        None, [(ledger.CASH, amount),
                                               (ledger.BANK_CLEARING, -amount)])])
    return amount


def check_all(conn: Connection) -> list[str]:
    """What is broken in the whole ledger; an empty list when it holds."""
    problems: list[str] = []
    p, j = s.postings.c, s.journals.c
    total = conn.execute(select(func.coalesce(func.sum(p.amount), 0))).scalar_one()
    if total != 0:
        problems.append(f"postings sum to {total}, not 0")
    unbalanced = conn.execute(select(p.journal_key).group_by(p.journal_key)
                              .having(func.sum(p.amount) != 0)).scalars().all()
    problems += [f"journal {k} does not balance" for k in unbalanced]
    problems += _receivables(conn, None)
    for kind in ("wallet", "fund"):
        problems += _balances(conn, kind, None)

    b = s.bank_debits.c
    taken = conn.execute(select(func.coalesce(func.sum(b.taken), 0))
                         .where(b.status == "debited")).scalar_one()
    settled = conn.execute(select(func.coalesce(func.sum(j.amount), 0))
                           .where(j.kind == "settlement")).scalar_one()
    clearing = conn.execute(select(func.coalesce(func.sum(p.amount), 0))
                            .where(p.account == ledger.BANK_CLEARING)).scalar_one()
    if clearing != taken - settled:
        problems.append(f"bank clearing {clearing} != debits taken {taken} - settled {settled}")
    return problems
