"""Proofs of the ledger invariants (SPEC section 8), each a few set-based queries.

``check_day`` runs after every close on that date's journals; ``check_all``
proves the whole ledger (weekly, and at the end of every scenario).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import Connection, func, select

from domain import ledger
from store import schema as s
from store.repo import insert_journals


def check_day(conn: Connection, on: date) -> list[str]:
    j, p = s.journals.c, s.postings.c
    rows = conn.execute(
        select(j.key, func.coalesce(func.sum(p.amount), 0))
        .select_from(s.journals.outerjoin(s.postings, p.journal_key == j.key))
        .where(j.day == on).group_by(j.key)
        .having(func.coalesce(func.sum(p.amount), 0) != 0)).all()
    return [f"journal {k} does not balance ({v})" for k, v in rows]


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
    problems: list[str] = []
    p, j = s.postings.c, s.journals.c
    total = conn.execute(select(func.coalesce(func.sum(p.amount), 0))).scalar_one()
    if total != 0:
        problems.append(f"postings sum to {total}, not 0")
    unbalanced = conn.execute(select(p.journal_key).group_by(p.journal_key)
                              .having(func.sum(p.amount) != 0)).scalars().all()
    problems += [f"journal {k} does not balance" for k in unbalanced]

    by_owner: dict[str, int] = defaultdict(int)
    for account_prefix in ("loan:%", "written_off:%"):
        for owner, amount in conn.execute(
                select(p.owner, func.sum(p.amount)).where(p.account.like(account_prefix))
                .group_by(p.owner)):
            by_owner[owner] += int(amount)
    i = s.installments.c
    owed = {r[0]: int(r[1]) for r in conn.execute(select(
        i.loan_id, func.sum(i.principal + i.interest + i.penalty - i.paid_principal
                            - i.paid_interest - i.paid_penalty)).group_by(i.loan_id))}
    for loan_id in sorted(set(owed) | set(by_owner)):
        if owed.get(loan_id, 0) != by_owner.get(loan_id, 0):
            problems.append(f"loan {loan_id}: receivable {by_owner.get(loan_id, 0)} != "
                            f"outstanding {owed.get(loan_id, 0)}")

    u = s.users.c
    for kind, column in (("wallet", u.wallet), ("fund", u.fund)):
        posted = {owner: -int(v) for owner, v in conn.execute(
            select(p.owner, func.sum(p.amount)).where(p.account.like(f"{kind}:%"))
            .group_by(p.owner))}
        for uid, balance in conn.execute(select(u.id, column)):
            if posted.get(uid, 0) != balance:
                problems.append(f"user {uid}: {kind} {balance} != postings {posted.get(uid, 0)}")

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
