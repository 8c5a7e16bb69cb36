"""``creditcycle import DIR`` (SPEC 13), the writing pass: a book already checked whole by
``domain.book.check_book`` is read again and written in batches (COPY on PostgreSQL),
under the users' locks, in the caller's transaction.

The next batch is read and built in a background thread while this one is written: the
writer mostly waits on the database (with the GIL released), so reading the files and
building the rows costs little wall time beside the server's own work.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import multiprocessing
import queue
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from domain import book as rules
from domain import ledger, lending
from domain.commands import InputError
from domain.config import ProductConfig
from domain.model import ACTIVE, Journal
from store import bulk_load
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
    values: list[tuple[Any, ...]]  # in USER_COLUMNS order
    cards: list[int]
    journals: list[list[Journal]]


@dataclass(frozen=True, slots=True)
class _LoanBatch:
    ids: list[str]
    loans: list[tuple[Any, ...]]
    opened: list[lending.Opened]


def import_book(conn: Connection, open_file: Callable[[str], rules.Lines | None],
                checked: rules.Checked, first_open_day: date,
                config: ProductConfig, directory: Path | None = None) -> dict[str, int]:
    """Write the checked book: users (with their opening balances), their simulated card
    accounts, loans with their paid installments, each opening amount an opening journal.
    What is stored already (a user, a loan) is left as it is, so a second import changes
    nothing; stored users are locked first, in id order, as the nightly chunks lock them.

    Into an empty book on PostgreSQL (``bulk_load.empty_book``), given the book's
    ``directory``, the fast path (``import_empty``); otherwise batches read here."""
    present = user_rows.lock_existing(conn, checked.users)
    if directory is not None and conn.dialect.name == "postgresql" \
            and bulk_load.empty_book(conn):
        return import_empty(conn, directory, checked, present, first_open_day, config)
    users = 0
    for ub in _ahead(_user_batches(rules.read_file("users.csv", _lines(open_file, "users.csv")),
                                   checked, first_open_day, config)):
        keep = [k for k, uid in enumerate(ub.ids) if uid not in present]
        user_rows.insert_users(conn, [dict(zip(USER_COLUMNS, ub.values[k], strict=True))
                                      for k in keep])
        user_rows.open_bank_accounts(conn, {ub.ids[k]: ub.cards[k] for k in keep})
        journal_rows.insert_journals(conn, [j for k in keep for j in ub.journals[k]])
        users += len(keep)
    loans = 0
    for lb in _ahead(_loan_batches(rules.read_file("loans.csv", _lines(open_file, "loans.csv")),
                                   first_open_day)):
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


def _loan_batches(rows: rules.FileRows, first_open_day: date,
                  size: int | None = None) -> Iterator[_LoanBatch]:
    for batch in _batches(rows, size or BATCH):
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


USER_COLUMNS = user_rows.IMPORTED_USER_COLUMNS


def _user_values(u: rules.UserRow, wallet: int, fund: int, base: int, before: date,
                 next_recalc: date, last: int | None) -> tuple[Any, ...]:
    """A user's row in ``USER_COLUMNS`` order (the balances apply to a user created here)."""
    return (u.id, u.name, u.phone, u.birth_date, u.identity_verified, u.identity_expires,
            u.score, u.consent_wallet, u.consent_card, u.consent_fund, u.card_token or None,
            u.limit, wallet, fund, before, base, next_recalc,
            date.fromordinal(last) if last else None)


def _user_batches(rows: rules.FileRows, checked: rules.Checked, first_open_day: date,
                  config: ProductConfig, size: int | None = None) -> Iterator[_UserBatch]:
    before = first_open_day - timedelta(days=1)
    next_recalc = before + timedelta(days=config.limit_recalc_interval_days)
    bases: dict[int, int] = {}
    for batch in _batches(rows, size or BATCH):
        out = _UserBatch([], [], [], [])
        for _, u in batch:
            wallet, fund, card = checked.balances.get(u.id, (0, 0, 0))
            last = checked.last_disbursed.get(u.id)
            base = bases.get(u.score)
            if base is None:
                base = bases[u.score] = config.base_limit(u.score)
            out.ids.append(u.id)
            out.values.append(_user_values(u, wallet, fund, base, before, next_recalc, last))
            out.cards.append(card)
            out.journals.append([
                lending.opening_balance(u.id, account, amount, first_open_day)
                for account, amount in ((ledger.wallet(u.id), wallet), (ledger.fund(u.id), fund))
                if amount])
        yield out


# ---------------------------------------------------------------- the fast path
# Into an empty book (``store.bulk_load.empty_book``) the files are turned into rows by
# producer processes, one a file, as COPY text; this process only forwards each batch
# to its COPY, while the server loads the previous one. The keys and indexes are made
# after the load (``store.bulk_load.unindexed``).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": USER_COLUMNS, "sim_bank_accounts": ("user_id", "balance"),
    "loans": loan_rows.OPENED_LOAN_COLUMNS, "installments": loan_rows.OPENED_INSTALLMENT_COLUMNS,
    "journals": journal_rows.JOURNAL_COLUMNS, "postings": journal_rows.POSTING_COLUMNS}
QUEUE_DEPTH = 8  # batches on their way from the producers: bounded memory
_POLL = 1.0  # seconds between looks at the producers while none has sent anything
_SPOOL_READ = 1 << 22
# loans.csv, a book's largest work (ten installments a loan), is cut into parts each
# turned into rows by a process of its own, beside users.csv's.
LOAN_PARTS = 2


def _cuts(marks: list[int], parts: int) -> list[int]:
    """Lines to cut a file after, among ``marks``, into at most ``parts`` parts of about
    equal rows (no cut where there are no marks: a small file stays whole)."""
    if not marks:
        return []
    picks = sorted({round(len(marks) * k / parts) for k in range(1, parts)})
    return [marks[p - 1] for p in picks if 0 < p <= len(marks)]


@dataclass(frozen=True, slots=True)
class _Part:
    """One producer's work: a file of the book and what turning it into rows needs."""

    key: str  # the producer's name (a file, or a part of one)
    name: str
    path: Path
    after: int  # the part: the lines after this one (1: the header's) ...
    through: int | None  # ... through this one (None: to the end)
    first_open_day: date
    batch: int
    config: ProductConfig
    present: frozenset[str]
    checked: rules.Checked


Message = tuple[str, str, Any]  # ("rows", table, COPY text bytes) | ("count", what, n) |
#                                 ("error", field, message) | ("failed", file, text) |
#                                 ("done", file, None)


def import_empty(conn: Connection, directory: Path, checked: rules.Checked,
                 present: set[str], first_open_day: date, config: ProductConfig
                 ) -> dict[str, int]:
    """Write the checked book into an empty one (the caller holds ``bulk_load.empty_book``'s
    locks, PostgreSQL): the same rows as ``import_book``'s plain path, made by producer
    processes, loaded without keys or indexes, which are then made once."""
    after = [1, *_cuts(checked.loan_marks, LOAN_PARTS)]
    through = [*after[1:], None]
    parts = [_Part(f"loans.csv#{k}", "loans.csv", directory / "loans.csv", after[k],
                   through[k], first_open_day, BATCH, config, frozenset(), checked)
             for k in range(len(after))]
    parts.append(_Part("users.csv", "users.csv", directory / "users.csv", 1, None,
                       first_open_day, BATCH, config, frozenset(present), checked))
    counts = {"users": 0, "loans": 0}
    # A loan refers to its user (that foreign key stays: dropping it would lock every
    # user), so the loans' own rows wait in a file until the users are in; the rest of
    # loans.csv's rows (installments, journals) goes in as it comes.
    with bulk_load.unindexed(conn), tempfile.TemporaryFile() as waiting:
        users_in = False
        for kind, what, value in _produced(parts):
            if kind == "rows" and what == "loans" and not users_in:
                waiting.write(value)
            elif kind == "rows":
                bulk_load.copy_text(conn, what, _COLUMNS[what], [value])
            elif kind == "count":
                counts[what] += value
            elif what == "users.csv":  # done: the users are in
                users_in = True
                waiting.seek(0)
                bulk_load.copy_text(conn, "loans", _COLUMNS["loans"],
                                    iter(lambda: waiting.read(_SPOOL_READ), b""))
    return {**counts, "already_stored": len(checked.users) - counts["users"]
            + checked.loans - counts["loans"]}


def _produced(parts: list[_Part]) -> Iterator[Message]:
    """The producers' messages as they come, until each has finished; a producer's error
    (or its death) is raised here, and the others are then stopped."""
    # Forked where it can be: the producers then start at once, sharing the checked book
    ctx = (multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods()
           else multiprocessing.get_context("spawn"))
    out: multiprocessing.Queue[Message] = ctx.Queue(maxsize=QUEUE_DEPTH)
    procs = {p.key: ctx.Process(target=_produce, args=(p, out), name=f"import-{p.key}",
                                daemon=True) for p in parts}
    gc.freeze()  # forked producers then share the checked book's pages instead of copying
    try:
        for proc in procs.values():
            proc.start()
        running = set(procs)
        while running:
            try:
                kind, what, value = out.get(timeout=_POLL)
            except queue.Empty:
                dead = [n for n in running if not procs[n].is_alive()]
                if dead:
                    raise RuntimeError(f"the producer of {dead[0]} stopped (exit code "
                                       f"{procs[dead[0]].exitcode})") from None
                continue
            if kind == "error":
                raise InputError(what, value)
            if kind == "failed":
                raise RuntimeError(f"the producer of {what} failed: {value}")
            if kind == "done":
                running.discard(what)
            yield kind, what, value
    finally:
        gc.unfreeze()
        for proc in procs.values():
            if proc.is_alive():
                proc.terminate()
            proc.join()
        out.close()


def _produce(part: _Part, out: multiprocessing.Queue[Message]) -> None:
    """A producer process: the part's rows, batch by batch, as COPY text on ``out``."""
    try:
        rows = rules.read_part(part.name, file_lines(part.path), part.after, part.through)
        batches = (_loan_messages(rows, part) if part.name == "loans.csv" else
                   _user_messages(rows, part))
        for kind, what, value in batches:
            out.put((kind, what, value.encode() if kind == "rows" else value))
        out.put(("done", part.key, None))
    except InputError as exc:
        out.put(("error", exc.field, exc.message))
    except Exception as exc:  # any other failure is the import's: raised there, with its name
        out.put(("failed", part.name, f"{type(exc).__name__}: {exc}"))


def _journal_messages(journals: list[Journal]) -> Iterator[Message]:
    rows, postings = journal_rows.journal_values(journals)
    yield "rows", "journals", bulk_load.journal_text(rows)
    yield "rows", "postings", bulk_load.posting_text(postings)


def _loan_messages(rows: rules.FileRows, part: _Part) -> Iterator[Message]:
    for lb in _loan_batches(rows, part.first_open_day, part.batch):
        yield "rows", "loans", bulk_load.opened_loan_text(lb.loans)
        yield "rows", "installments", bulk_load.installment_text(
            r for o in lb.opened for r in o.installments)
        yield from _journal_messages([o.journal for o in lb.opened])
        yield "count", "loans", len(lb.ids)


def _user_messages(rows: rules.FileRows, part: _Part) -> Iterator[Message]:
    for ub in _user_batches(rows, part.checked, part.first_open_day, part.config,
                            part.batch):
        keep = [k for k, uid in enumerate(ub.ids) if uid not in part.present]
        yield "rows", "users", bulk_load.imported_user_text(ub.values[k] for k in keep)
        yield "rows", "sim_bank_accounts", bulk_load.text_rows(
            (ub.ids[k], ub.cards[k]) for k in keep)
        yield from _journal_messages([j for k in keep for j in ub.journals[k]])
        yield "count", "users", len(keep)


def file_lines(path: Path) -> Iterator[str]:
    """The file's lines, each decoded as it is read (a byte that is not UTF-8 is then named
    by its own line), a leading byte order mark dropped."""
    with path.open("rb") as f:
        for n, raw in enumerate(f):
            yield (raw.removeprefix(codecs.BOM_UTF8) if n == 0 else raw).decode("utf-8")
