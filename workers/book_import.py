"""``creditcycle import DIR`` (SPEC 13), the writing pass: a book already checked whole by
``domain.book.check_book`` is read again and written in batches (COPY on PostgreSQL),
under the users' locks, in the caller's transaction.

The next batch is read and built in a background thread while this one is written: the
writer mostly waits on the database (with the GIL released), so reading the files and
building the rows costs little wall time beside the server's own work.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
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
AHEAD = 2  # batches built ahead of the writer
T = TypeVar("T")


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _ahead(items: Iterable[T], depth: int = AHEAD) -> Iterator[T]:
    """``items`` made in a background thread, at most ``depth`` ahead of the consumer (an
    exception there is raised here; a consumer that stops early stops the thread)."""
    out: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def make() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                out.put(("item", item))
        except BaseException as exc:  # handed to the consumer, raised there
            out.put(("error", exc))
            return
        out.put(("end", None))

    thread = threading.Thread(target=make, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = out.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():  # let a producer blocked on a full queue see ``stop``
            with contextlib.suppress(queue.Empty):
                out.get(timeout=0.05)
        thread.join()


@dataclass(frozen=True, slots=True)
class _UserBatch:
    ids: list[str]
    rows: list[dict[str, Any]]
    cards: list[int]
    journals: list[list[Journal]]


@dataclass(frozen=True, slots=True)
class _LoanBatch:
    ids: list[str]
    loans: list[tuple[Any, ...]]
    opened: list[lending.Opened]


def import_book(conn: Connection, open_file: Callable[[str], rules.Lines | None],
                checked: rules.Checked, first_open_day: date,
                config: ProductConfig) -> dict[str, int]:
    """Write the checked book: users (with their opening balances), their simulated card
    accounts, loans with their paid installments, each opening amount an opening journal.
    What is stored already (a user, a loan) is left as it is, so a second import changes
    nothing; stored users are locked first, in id order, as the nightly chunks lock them."""
    present = user_rows.lock_existing(conn, checked.users)
    users = 0
    for ub in _ahead(_user_batches(_lines(open_file, "users.csv"), checked, first_open_day,
                                   config)):
        keep = [k for k, uid in enumerate(ub.ids) if uid not in present]
        user_rows.insert_users(conn, [ub.rows[k] for k in keep])
        user_rows.open_bank_accounts(conn, {ub.ids[k]: ub.cards[k] for k in keep})
        journal_rows.insert_journals(conn, [j for k in keep for j in ub.journals[k]])
        users += len(keep)
    loans = 0
    for lb in _ahead(_loan_batches(_lines(open_file, "loans.csv"), first_open_day)):
        stored = loan_rows.existing_ids(conn, lb.ids)
        keep = [k for k, lid in enumerate(lb.ids) if lid not in stored]
        loan_rows.insert_opened(conn, [lb.loans[k] for k in keep],
                                [r for k in keep for r in lb.opened[k].installments])
        journal_rows.insert_journals(conn, [lb.opened[k].journal for k in keep])
        loans += len(keep)
    return {"users": users, "loans": loans,
            "already_stored": len(checked.users) - users + checked.loans - loans}


def _lines(open_file: Callable[[str], rules.Lines | None], name: str) -> rules.Lines:
    lines = open_file(name)
    if lines is None:  # check_book found it: a file removed meanwhile
        raise FileNotFoundError(name)
    return lines


def _loan_batches(lines: rules.Lines, first_open_day: date) -> Iterator[_LoanBatch]:
    for batch in _batches(rules.read_file("loans.csv", lines), BATCH):
        ids, loans, opened = [], [], []
        for _, x in batch:
            o = lending.bring_in_rows(x.id, x.user, x.principal, x.annual_rate_bp,
                                      x.term_months, x.disbursed, x.installments_paid,
                                      first_open_day)
            ids.append(x.id)
            loans.append((x.id, x.user, x.principal, x.annual_rate_bp, x.term_months,
                          x.disbursed, ACTIVE, o.next_due))
            opened.append(o)
        yield _LoanBatch(ids, loans, opened)


def _user_batches(lines: rules.Lines, checked: rules.Checked, first_open_day: date,
                  config: ProductConfig) -> Iterator[_UserBatch]:
    before = first_open_day - timedelta(days=1)
    next_recalc = before + timedelta(days=config.limit_recalc_interval_days)
    bases: dict[int, int] = {}
    for batch in _batches(rules.read_file("users.csv", lines), BATCH):
        out = _UserBatch([], [], [], [])
        for _, u in batch:
            wallet, fund, card = checked.balances.get(u.id, (0, 0, 0))
            last = checked.last_disbursed.get(u.id)
            base = bases.get(u.score)
            if base is None:
                base = bases[u.score] = config.base_limit(u.score)
            out.ids.append(u.id)
            out.rows.append({
                "id": u.id, "name": u.name, "phone": u.phone, "birth_date": u.birth_date,
                "identity_verified": u.identity_verified,
                "identity_expires": u.identity_expires, "score": u.score,
                "consent_wallet": u.consent_wallet, "consent_card": u.consent_card,
                "consent_fund": u.consent_fund, "card_token": u.card_token or None,
                "credit_limit": u.limit, "wallet": wallet, "fund": fund,
                "last_recalc": before, "last_base": base, "next_recalc": next_recalc,
                "last_disbursed": date.fromordinal(last) if last else None})
            out.cards.append(card)
            out.journals.append([
                lending.opening_balance(u.id, account, amount, first_open_day)
                for account, amount in ((ledger.wallet(u.id), wallet), (ledger.fund(u.id), fund))
                if amount])
        yield out
