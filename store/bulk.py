"""Bulk writes for a chunk: one statement per table, whatever the number of rows;
and ``in_ids``, a chunk's ids as one parameter.

On PostgreSQL, new rows, however few, go straight into the table by COPY
(constraints and foreign keys are checked as for INSERT); from ``COPY_THRESHOLD``
rows, rows that may already be there go through a temporary table and one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, changed rows through a temporary
table and one ``UPDATE ... FROM``; fewer go as one statement, a multi-row
``INSERT ... ON CONFLICT DO NOTHING`` or one ``UPDATE ... FROM (VALUES ...)``.
Never an executemany there: psycopg runs it as one statement per row on the
server. (Measured, 2 to 200 rows: COPY costs a third to a half of an executemany
and a tenth of a multi-row INSERT, which SQLAlchemy compiles anew for every call;
the temporary table costs about what 20 rows of ``UPDATE ... FROM (VALUES ...)``
do.) On SQLite, in the process itself, an executemany. Same result.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, String, Table, any_, bindparam, insert, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ColumnElement

_names = itertools.count()
COPY_THRESHOLD = 20  # rows from which an update (or insert-or-ignore) goes by COPY


def _use_copy(conn: Connection, rows: Sequence[object]) -> bool:
    return conn.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD


def _one_statement(conn: Connection) -> bool:
    """Whether a handful of rows goes as one multi-row statement rather than an
    executemany, which psycopg runs as one statement per row (SQLite runs it in the
    process; its UPDATE cannot name a VALUES list's columns)."""
    return conn.dialect.name == "postgresql"


def _copy_new(conn: Connection) -> bool:
    """Whether new rows go by COPY: on PostgreSQL, for any number of rows."""
    return conn.dialect.name == "postgresql"


def _processors(conn: Connection, table: Table,
                cols: Sequence[str]) -> list[Callable[[Any], Any] | None]:
    """The columns' own bind conversions (JSON to text, instants to UTC), which COPY
    would otherwise skip."""
    return [table.c[c].type._cached_bind_processor(conn.dialect) for c in cols]


def _copy(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *,
          through: str | None = None) -> None:
    """COPY ``rows`` into ``table``, or into a temporary table shaped like the rows'
    columns and then into ``table`` with the statement ``through`` (``{tmp}`` names
    the temporary table, ``{cols}`` its columns). All on the driver's cursor, in the
    chunk's transaction."""
    cols = list(rows[0])
    procs = _processors(conn, table, cols)
    raw = conn.connection.dbapi_connection
    if raw is None:  # a checked-out connection always has one
        raise AssertionError("no DBAPI connection")
    try:
        _copy_on(raw, table, rows, cols, procs, through)
    except conn.dialect.loaded_dbapi.Error as exc:
        # The errors SQLAlchemy would have raised (IntegrityError, OperationalError, ...),
        # so that callers and the tasks' retry rules see one family of exceptions.
        raise DBAPIError.instance(f"COPY {table.name}", None, exc,
                                  conn.dialect.loaded_dbapi.Error,
                                  dialect=conn.dialect) from exc


def _copy_on(raw: Any, table: Table, rows: Sequence[dict[str, Any]], cols: list[str],
             procs: list[Callable[[Any], Any] | None], through: str | None) -> None:
    col_list = ", ".join(cols)
    with raw.cursor() as cur:
        target = table.name
        if through is not None:
            target = f"bulk_{table.name}_{next(_names)}"
            # S608: names come from the Table and the code's row keys; values go by COPY
            cur.execute(f"CREATE TEMP TABLE {target} ON COMMIT DROP AS "  # noqa: S608
                        f"SELECT {col_list} FROM {table.name} WITH NO DATA")
        with cur.copy(f"COPY {target} ({col_list}) FROM STDIN") as cp:
            if any(procs):
                for r in rows:
                    cp.write_row([r[c] if p is None else p(r[c])
                                  for c, p in zip(cols, procs, strict=True)])
            else:
                for r in rows:
                    cp.write_row([r[c] for c in cols])
        if through is not None:
            cur.execute(through.format(tmp=target, cols=col_list))


def bulk_update(conn: Connection, table: Table, keys: Sequence[str],
                rows: Sequence[dict[str, Any]]) -> int:
    """Update ``table`` rows matched on ``keys``; every row has the same columns."""
    if not rows:
        return 0
    cols = list(rows[0])
    values = [c for c in cols if c not in keys]
    if not _use_copy(conn, rows) and _one_statement(conn):
        _update_from_values(conn, table, keys, values, rows)
        return len(rows)
    if not _use_copy(conn, rows):
        stmt = update(table).where(*(table.c[k] == bindparam(f"k_{k}") for k in keys)).values(
            {c: bindparam(f"v_{c}") for c in values})
        conn.execute(stmt, [{**{f"k_{k}": r[k] for k in keys},
                             **{f"v_{c}": r[c] for c in values}} for r in rows])
        return len(rows)
    sets = ", ".join(f"{c} = s.{c}" for c in values)
    match = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    # S608: names come from the Table and the code's row keys; values go by COPY
    _copy(conn, table, rows, through=f"UPDATE {table.name} t SET {sets} FROM {{tmp}} s "  # noqa: S608
                                     f"WHERE {match}")
    return len(rows)


def _cast_type(table: Table, col: str, conn: Connection) -> str:
    """The column's type as a CAST target (without its collation: the table's column
    keeps it, and CAST cannot take one)."""
    type_ = table.c[col].type
    type_ = type_._variant_mapping.get(conn.dialect.name, type_)  # a PostgreSQL variant
    if getattr(type_, "collation", None) is not None:
        type_ = type_.copy()
        type_.collation = None  # type: ignore[attr-defined]  # checked just above
    return type_.compile(conn.dialect)


def _update_from_values(conn: Connection, table: Table, keys: Sequence[str],
                        values: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """One ``UPDATE table SET ... FROM (VALUES ...) s WHERE`` the keys match. Each value is
    cast to its column's type (a VALUES column of NULLs alone would be text) and bound
    with the column's own conversion (JSON to text, instants to UTC)."""
    quote = conn.dialect.identifier_preparer.quote
    cols = [*keys, *values]
    types = {c: _cast_type(table, c, conn) for c in cols}
    params, tuples = [], []
    for i, r in enumerate(rows):
        names = []
        for j, c in enumerate(cols):
            params.append(bindparam(f"p{i}_{j}", r[c], type_=table.c[c].type))
            names.append(f"CAST(:p{i}_{j} AS {types[c]})")
        tuples.append(f"({', '.join(names)})")
    sets = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in values)
    match = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in keys)
    # S608: names come from the Table and the code's row keys; values are bound parameters
    sql = (f"UPDATE {quote(table.name)} AS t SET {sets} "  # noqa: S608
           f"FROM (VALUES {', '.join(tuples)}) AS s ({', '.join(quote(c) for c in cols)}) "
           f"WHERE {match}")
    conn.execute(text(sql).bindparams(*params))


def insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain INSERT of new rows (a repeated key fails as it would row by row); every row
    has the same columns."""
    if not rows:
        return
    if _copy_new(conn):
        _copy(conn, table, rows)
        return
    conn.execute(insert(table), list(rows))


def insert_rows(conn: Connection, table: Table, cols: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> int:
    """Plain INSERT of new rows given as values in ``cols`` order (a repeated key fails as
    it would row by row), as many as ``rows`` yields, which it may produce as it goes:
    on PostgreSQL one COPY streamed as the rows come, elsewhere an executemany. The
    values go to the driver as they are (ints, text, dates, booleans, None): no column
    here has a bind conversion. Returns the count."""
    if isinstance(rows, Sequence) and not rows:
        return 0
    if not _copy_new(conn):
        batch = [dict(zip(cols, r, strict=True)) for r in rows]
        if batch:
            conn.execute(insert(table), batch)
        return len(batch)
    raw = conn.connection.dbapi_connection
    if raw is None:  # a checked-out connection always has one
        raise AssertionError("no DBAPI connection")
    try:
        return _copy_rows(raw, f"COPY {table.name} ({', '.join(cols)}) FROM STDIN", rows)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(f"COPY {table.name}", None, exc,
                                  conn.dialect.loaded_dbapi.Error,
                                  dialect=conn.dialect) from exc


def _copy_rows(raw: Any, statement: str, rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    with raw.cursor() as cur, cur.copy(statement) as cp:
        for r in rows:
            cp.write_row(r)
            count += 1
    return count


def insert_ignore_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING for many rows, when nobody needs the count."""
    if not rows:
        return
    if _use_copy(conn, rows):
        # S608: names come from the Table and the code's row keys; values go by COPY
        _copy(conn, table, rows, through=f"INSERT INTO {table.name} ({{cols}}) "  # noqa: S608
                                         f"SELECT {{cols}} FROM {{tmp}} ON CONFLICT DO NOTHING")
        return
    if _one_statement(conn):
        conn.execute(pg_insert(table).values(list(rows)).on_conflict_do_nothing())
        return
    conn.execute(sqlite_insert(table).on_conflict_do_nothing(), list(rows))


def in_ids(conn: Connection, column: ColumnElement[Any],
           ids: Collection[str]) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL one array parameter (``= ANY``) rather than a
    placeholder per id, which costs compile and parse time for chunks of thousands."""
    values = sorted(ids)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String())))
    return column.in_(values)


def upsert_newer_many(conn: Connection, table: Table, keys: Sequence[str], newer: str,
                      rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT (``keys``) DO UPDATE the other columns, only where the row's
    ``newer`` column is greater than the stored one (a row never goes backwards). On
    PostgreSQL from ``COPY_THRESHOLD`` rows one COPY into a temporary table and one
    ``INSERT ... SELECT``; fewer, one multi-row statement; on SQLite an executemany. Every
    row has the same columns."""
    if not rows:
        return
    cols = list(rows[0])
    values = [c for c in cols if c not in keys]
    if _use_copy(conn, rows):
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in values)
        # S608: names come from the Table and the code's row keys; values go by COPY
        _copy(conn, table, rows, through=(
            f"INSERT INTO {table.name} ({{cols}}) SELECT {{cols}} FROM {{tmp}} "  # noqa: S608
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets} "
            f"WHERE EXCLUDED.{newer} > {table.name}.{newer}"))
        return
    ins = pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table)
    stmt = ins.on_conflict_do_update(
        index_elements=[table.c[k] for k in keys],
        set_={c: ins.excluded[c] for c in values},
        where=ins.excluded[newer] > table.c[newer])
    if _one_statement(conn):
        conn.execute(stmt.values(list(rows)))
        return
    conn.execute(stmt, list(rows))


def update_rows(conn: Connection, table: Table, keys: Sequence[str], cols: Sequence[str],
                rows: Sequence[Sequence[Any]], same: dict[str, Any] | None = None) -> int:
    """Update ``table`` rows matched on ``keys``, from rows given as values in ``cols``
    order (``keys`` among them), and set the columns of ``same`` to one value for every
    row. From ``COPY_THRESHOLD`` rows on PostgreSQL, one COPY into a temporary table of
    ``cols`` only and one ``UPDATE ... FROM`` (the shared values bound once, not copied
    for each row; no dict per row); otherwise as ``bulk_update``. The values go to the
    driver as they are: no column here may have a bind conversion. Returns the count."""
    if not rows:
        return 0
    same = same or {}
    if not _use_copy(conn, rows):
        return bulk_update(conn, table, keys,
                           [{**dict(zip(cols, r, strict=True)), **same} for r in rows])
    raw = conn.connection.dbapi_connection
    if raw is None:  # a checked-out connection always has one
        raise AssertionError("no DBAPI connection")
    try:
        _update_rows_on(raw, table.name, keys, cols, rows, same)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(f"UPDATE {table.name}", None, exc,
                                  conn.dialect.loaded_dbapi.Error,
                                  dialect=conn.dialect) from exc
    return len(rows)


def _update_rows_on(raw: Any, table: str, keys: Sequence[str], cols: Sequence[str],
                    rows: Sequence[Sequence[Any]], same: dict[str, Any]) -> None:
    tmp = f"bulk_{table}_{next(_names)}"
    col_list = ", ".join(cols)
    sets = ", ".join([*(f"{c} = s.{c}" for c in cols if c not in keys),
                      *(f"{c} = %s" for c in same)])
    match = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    with raw.cursor() as cur:
        # S608: names come from the Table and the code's columns; values go by COPY and
        # as bound parameters
        cur.execute(f"CREATE TEMP TABLE {tmp} ON COMMIT DROP AS "  # noqa: S608
                    f"SELECT {col_list} FROM {table} WITH NO DATA")
        with cur.copy(f"COPY {tmp} ({col_list}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
        cur.execute(f"UPDATE {table} t SET {sets} FROM {tmp} s "  # noqa: S608
                    f"WHERE {match}", list(same.values()))
