"""``creditcycle import DIR`` (SPEC 13), the writing pass: a book already checked whole by
``domain.book.check_book`` is read again and written in batches (COPY on PostgreSQL),
under the users' locks, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, timedelta
from itertools import islice
from typing import Any, TypeVar

from domain import book as rules
from domain import ledger, lending
from domain.config import ProductConfig
from domain.model import ACTIVE, Journal
from store import journals as journal_rows
from store import loans as loan_rows
from store import users as user_rows
from store.engine import Connection

BATCH = 10_000  # rows of a file held at once: memory stays bounded whatever the book's size
T = TypeVar("T")


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def import_book(conn: Connection, open_file: Callable[[str], rules.Lines | None],
                checked: rules.Checked, first_open_day: date,
                config: ProductConfig) -> dict[str, int]:
    """Write the checked book: users (with their opening balances), their simulated card
    accounts, loans with their paid installments, each opening amount an opening journal.
    What is stored already (a user, a loan) is left as it is, so a second import changes
    nothing; stored users are locked first, in id order, as the nightly chunks lock them."""
    present = user_rows.lock_existing(conn, checked.users)
    users = _write_users(conn, rules.read_file("users.csv", _lines(open_file, "users.csv")),
                         present, checked, first_open_day, config)
    loans = 0
    for batch in _batches(rules.read_file("loans.csv", _lines(open_file, "loans.csv")), BATCH):
        stored = loan_rows.existing_ids(conn, [x.id for _, x in batch])
        new: list[tuple[Any, ...]] = []
        installments: list[tuple[Any, ...]] = []
        journals: list[Journal] = []
        for _, x in batch:
            if x.id not in stored:
                opened = lending.bring_in_rows(x.id, x.user, x.principal, x.annual_rate_bp,
                                               x.term_months, x.disbursed,
                                               x.installments_paid, first_open_day)
                new.append((x.id, x.user, x.principal, x.annual_rate_bp, x.term_months,
                            x.disbursed, ACTIVE, opened.next_due))
                installments.extend(opened.installments)
                journals.append(opened.journal)
        loan_rows.insert_opened(conn, new, installments)
        journal_rows.insert_journals(conn, journals)
        loans += len(new)
    return {"users": users, "loans": loans,
            "already_stored": len(checked.users) - users + checked.loans - loans}


def _lines(open_file: Callable[[str], rules.Lines | None], name: str) -> rules.Lines:
    lines = open_file(name)
    if lines is None:  # check_book found it: a file removed meanwhile
        raise FileNotFoundError(name)
    return lines


def _write_users(conn: Connection, rows: Iterable[tuple[int, rules.UserRow]],
                 present: set[str], checked: rules.Checked, first_open_day: date,
                 config: ProductConfig) -> int:
    before = first_open_day - timedelta(days=1)
    next_recalc = before + timedelta(days=config.limit_recalc_interval_days)
    bases: dict[int, int] = {}
    count = 0
    for batch in _batches(rows, BATCH):
        users: list[dict[str, Any]] = []
        cards: dict[str, int] = {}
        journals: list[Journal] = []
        for _, u in batch:
            if u.id in present:
                continue
            wallet, fund, card = checked.balances.get(u.id, (0, 0, 0))
            last = checked.last_disbursed.get(u.id)
            base = bases.get(u.score)
            if base is None:
                base = bases[u.score] = config.base_limit(u.score)
            users.append({
                "id": u.id, "name": u.name, "phone": u.phone, "birth_date": u.birth_date,
                "identity_verified": u.identity_verified,
                "identity_expires": u.identity_expires, "score": u.score,
                "consent_wallet": u.consent_wallet, "consent_card": u.consent_card,
                "consent_fund": u.consent_fund, "card_token": u.card_token or None,
                "credit_limit": u.limit, "wallet": wallet, "fund": fund,
                "last_recalc": before, "last_base": base, "next_recalc": next_recalc,
                "last_disbursed": date.fromordinal(last) if last else None})
            cards[u.id] = card
            for account, amount in ((ledger.wallet(u.id), wallet), (ledger.fund(u.id), fund)):
                if amount:
                    journals.append(lending.opening_balance(u.id, account, amount,
                                                            first_open_day))
        user_rows.insert_users(conn, users)
        user_rows.open_bank_accounts(conn, cards)
        journal_rows.insert_journals(conn, journals)
        count += len(users)
    return count
