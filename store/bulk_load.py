"""The fast path of a bulk load into an empty book, as pg_restore loads a dump: the
keys, indexes and foreign keys of the book's tables are dropped in the load's own
transaction, the rows go in by COPY, and everything dropped is made again, exactly
as ``store.schema`` defines it (the statements are compiled from its metadata, so
they cannot drift from it), each index built once by a sort and each foreign key
checked by one join rather than per row.

PostgreSQL only. DDL is transactional there: a failure anywhere (a duplicate key
found when the primary key is made again, a foreign key that does not hold) rolls
the whole load back, the dropped definitions with it.

"Empty" (``empty_book``): loans, installments, journals and postings hold no row,
checked again after locking those four tables ACCESS EXCLUSIVE in the load's
transaction (the lock the drops take anyway, taken first and in one order so that
no writer gets in between the check and the load; a book with rows is not locked).
Users may exist; their table is left as it is (its key and the loans' foreign key to
it included: the loans' check of it costs little beside the installments', and
dropping it would lock every user, readers too).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any, cast

from sqlalchemy import (
    Connection,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    literal,
    select,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import (
    AddConstraint,
    CreateIndex,
    DropConstraint,
    DropIndex,
    ExecutableDDLElement,
)

from store import schema as s

TABLES: tuple[Table, ...] = (s.loans, s.installments, s.journals, s.postings)
# The index builds' memory and helpers: a million users' installments sort in memory, and
# one parallel worker beside the backend uses the second core while the client waits.
MAINTENANCE_WORK_MEM = "1GB"
PARALLEL_MAINTENANCE_WORKERS = 1


def _keys(table: Table) -> list[PrimaryKeyConstraint | UniqueConstraint]:
    return sorted((c for c in table.constraints
                   if isinstance(c, PrimaryKeyConstraint | UniqueConstraint)),
                  key=lambda c: str(c.name))


def _foreign_keys() -> list[ForeignKeyConstraint]:
    """The foreign keys from a table of ``TABLES`` to another of them."""
    names = {t.name for t in TABLES}
    return sorted((c for t in TABLES for c in t.foreign_key_constraints
                   if c.referred_table.name in names), key=lambda c: str(c.name))


def _indexes() -> list[Index]:
    return sorted((i for t in TABLES for i in t.indexes), key=lambda i: str(i.name))


def _empty(conn: Connection) -> bool:
    return all(conn.execute(select(literal(1)).select_from(t).limit(1)).first() is None
               for t in TABLES)


def empty_book(conn: Connection) -> bool:
    """Whether none of the book's tables (``TABLES``) holds a row: the fast path's
    condition, PostgreSQL only. When they are empty they are then locked for the rest of
    the transaction (and found empty again under the lock); a book that holds rows is
    left unlocked, for the plain path, which must not stop the night."""
    if not _empty(conn):
        return False
    conn.exec_driver_sql(
        f"LOCK TABLE {', '.join(t.name for t in TABLES)} IN ACCESS EXCLUSIVE MODE")
    return _empty(conn)


def drop_statements(conn: Connection) -> list[str]:
    """What ``unindexed`` drops, in order: the foreign keys, then the indexes, then the
    primary and unique keys (the ones the foreign keys referred to last)."""
    return ([_sql(conn, DropConstraint(c)) for c in _foreign_keys()]
            + [_sql(conn, DropIndex(i)) for i in _indexes()]
            + [_sql(conn, DropConstraint(c)) for t in TABLES for c in _keys(t)])


def create_statements(conn: Connection) -> list[str]:
    """What ``unindexed`` makes again, in order: the primary and unique keys, the
    indexes, then the foreign keys (which need the keys they refer to)."""
    return ([_sql(conn, AddConstraint(c)) for t in TABLES for c in _keys(t)]
            + [_sql(conn, CreateIndex(i)) for i in _indexes()]
            + [_sql(conn, AddConstraint(c)) for c in _foreign_keys()])


def _sql(conn: Connection, ddl: ExecutableDDLElement) -> str:
    return str(ddl.compile(dialect=conn.dialect))


@contextmanager
def unindexed(conn: Connection) -> Iterator[None]:
    """Drop the keys, indexes and foreign keys of ``TABLES`` for the block; when it ends
    without an error, make them again as ``store.schema`` defines them (the caller's
    transaction then commits them with the rows, or rolls all of it back). The caller
    holds the tables' lock (``empty_book``)."""
    for statement in drop_statements(conn):
        conn.exec_driver_sql(statement)
    yield
    conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
    conn.exec_driver_sql(
        f"SET LOCAL max_parallel_maintenance_workers = {PARALLEL_MAINTENANCE_WORKERS}")
    for statement in create_statements(conn):
        conn.exec_driver_sql(statement)


# ---------------------------------------------------------------- COPY text
# Rows made elsewhere (another process, for one) travel as COPY's text format, ready for
# ``copy_text``: columns split by tabs, rows ended by newlines, NULL as \N.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL = frozenset("\\\t\n\r")


class _IsoDates(dict[date, str]):
    """Each date's ISO text, made once (a book has a few thousand distinct dates)."""

    def __missing__(self, day: date) -> str:
        text = self[day] = day.isoformat()
        return text


_iso = _IsoDates()


def text_value(value: object) -> str:
    """A value as COPY text: None, booleans, integers, dates and text (escaped)."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str:
        text = cast(str, value)
        return text if _SPECIAL.isdisjoint(text) else text.translate(_ESCAPES)
    if value is None:
        return "\\N"
    if kind is bool:
        return "t" if value else "f"
    if kind is date:
        return _iso[cast(date, value)]
    raise TypeError(f"no COPY text for {kind.__name__} {value!r}")


def text_rows(rows: Iterable[Sequence[object]]) -> str:
    """Rows of any of ``text_value``'s values as COPY text."""
    return "".join("\t".join(map(text_value, r)) + "\n" for r in rows)


# The tables with a row or more per loan, written without ``text_value``'s dispatch: their
# text columns hold ids, keys and account names made of ids, and kinds, none of which can
# hold a tab, a newline or a backslash (the id's pattern), so nothing needs escaping.
_NULL = "\\N"


def installment_text(rows: Iterable[Sequence[Any]]) -> str:
    """Installment rows in ``store.loans.OPENED_INSTALLMENT_COLUMNS`` order as COPY text."""
    iso = _iso
    return "".join(f"{r[0]}\t{r[1]}\t{iso[r[2]]}\t{iso[r[3]]}\t{r[4]}\t{r[5]}\t{r[6]}\t{r[7]}\n"
                   for r in rows)


def _escaped(text: str) -> str:
    return text if _SPECIAL.isdisjoint(text) else text.translate(_ESCAPES)


def imported_user_text(rows: Iterable[Sequence[Any]]) -> str:
    """User rows in ``store.users.IMPORTED_USER_COLUMNS`` order as COPY text: the name
    escaped (the one free text; the phone and the card token have patterns without tabs,
    newlines or backslashes)."""
    iso, null = _iso, _NULL
    return "".join(
        f"{r[0]}\t{_escaped(r[1])}\t{r[2]}\t{null if r[3] is None else iso[r[3]]}\t"
        f"{'t' if r[4] else 'f'}\t{null if r[5] is None else iso[r[5]]}\t{r[6]}\t"
        f"{'t' if r[7] else 'f'}\t{'t' if r[8] else 'f'}\t{'t' if r[9] else 'f'}\t"
        f"{null if r[10] is None else r[10]}\t{r[11]}\t{r[12]}\t{r[13]}\t{iso[r[14]]}\t"
        f"{r[15]}\t{iso[r[16]]}\t{null if r[17] is None else iso[r[17]]}\n" for r in rows)


def opened_loan_text(rows: Iterable[Sequence[Any]]) -> str:
    """Loan rows in ``store.loans.OPENED_LOAN_COLUMNS`` order as COPY text."""
    iso = _iso
    return "".join(f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t{iso[r[5]]}\t{r[6]}\t"
                   f"{_NULL if r[7] is None else iso[r[7]]}\n" for r in rows)


def journal_text(rows: Iterable[Sequence[Any]]) -> str:
    """Journal rows in ``store.journals.JOURNAL_COLUMNS`` order as COPY text."""
    iso = _iso
    return "".join(f"{r[0]}\t{iso[r[1]]}\t{r[2]}\t{_NULL if r[3] is None else r[3]}\t"
                   f"{_NULL if r[4] is None else r[4]}\t{r[5]}\n" for r in rows)


def posting_text(rows: Iterable[Sequence[Any]]) -> str:
    """Posting rows in ``store.journals.POSTING_COLUMNS`` order as COPY text."""
    return "".join(f"{r[0]}\t{r[1]}\t{_NULL if r[2] is None else r[2]}\t{r[3]}\n"
                   for r in rows)


#: The tables an import loads, by name (the way ``copy_text`` is called from the workers,
#: which see no schema).
BOOK_TABLES: dict[str, Table] = {t.name: t for t in (s.users, s.sim_bank_accounts, s.loans,
                                                     s.installments, s.journals, s.postings)}


def copy_text(conn: Connection, table: Table | str, columns: Sequence[str],
              data: Iterable[str | bytes]) -> None:
    """COPY rows given as COPY text (``text_rows``), in pieces that may split a row, into
    ``table``'s ``columns`` (a table, or the name of one of ``BOOK_TABLES``): one
    statement."""
    if isinstance(table, str):
        table = BOOK_TABLES[table]
    raw: Any = conn.connection.dbapi_connection  # psycopg's, whose cursor copies
    if raw is None:  # a checked-out connection always has one
        raise AssertionError("no DBAPI connection")
    try:
        with raw.cursor() as cur, cur.copy(
                f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as cp:
            for piece in data:
                cp.write(piece)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(f"COPY {table.name}", None, exc,
                                  conn.dialect.loaded_dbapi.Error,
                                  dialect=conn.dialect) from exc
