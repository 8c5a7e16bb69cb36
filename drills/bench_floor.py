"""``make bench``, the floor: every row the night inserted or updated, captured by
``xmin`` and applied again to the pre-night copy with COPY and one set-based statement per
table, in one transaction. Used by ``drills.bench``."""

from __future__ import annotations

import io
import os
import time
from typing import Any

import psycopg

from store import schema as s


def _tables_with_keys() -> list[tuple[str, list[str], list[str]]]:
    out = []
    for table in s.metadata.sorted_tables:
        pk = [c.name for c in table.primary_key.columns]
        cols = [c.name for c in table.columns]
        out.append((table.name, pk, cols))
    return out


def capture(dsn: str, since_xid: int) -> dict[str, bytes]:
    """Every row the night inserted or updated, per table, as COPY text."""
    captured: dict[str, bytes] = {}
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for name, _, _ in _tables_with_keys():
            buf = io.BytesIO()
            with cur.copy(f"COPY (SELECT * FROM {name} WHERE xmin::text::bigint >= "
                          f"{since_xid}) TO STDOUT") as cp:
                for chunk in cp:
                    buf.write(chunk)
            if buf.tell():
                captured[name] = buf.getvalue()
    return captured


def apply_floor(dsn: str, captured: dict[str, bytes]) -> float:
    """Apply the captured rows to the pre-night copy: COPY + one statement per table."""
    keys = {name: (pk, cols) for name, pk, cols in _tables_with_keys()}
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        t = time.perf_counter()
        for name, data in captured.items():
            pk, cols = keys[name]
            tmp = f"floor_{name}"
            cur.execute(f"CREATE TEMP TABLE {tmp} (LIKE {name}) ON COMMIT DROP")
            with cur.copy(f"COPY {tmp} FROM STDIN") as cp:
                cp.write(data)
            rest = [c for c in cols if c not in pk]
            action = ("DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in rest)
                      if rest else "DO NOTHING")
            cur.execute(f"INSERT INTO {name} SELECT * FROM {tmp} "
                        f"ON CONFLICT ({', '.join(pk)}) {action}")
        conn.commit()
        return time.perf_counter() - t


def _settle(conn: psycopg.Connection[Any]) -> None:
    """A fresh copy as a database stands before its night: vacuumed and analyzed (as
    autovacuum leaves it), in the cache (as a day's traffic leaves it), and with the
    benchmark's own writes (seeding, gigabytes of copies, WAL-logged by CREATE
    DATABASE) checkpointed and flushed, so that neither the night nor its floor pays
    for them. Each starts from such a copy."""
    conn.execute("VACUUM (ANALYZE)")
    conn.execute("CHECKPOINT")
    os.sync()
    # VACUUM skips the pages a copy's visibility map marks all-visible, so it does not
    # bring them into the cache; read every table and index once (into the system's page
    # cache: pg_prewarm's 'read' mode), or the night reads a cold copy from the disk while
    # the copies made after it pushed it out of the cache.
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    conn.execute("SELECT pg_prewarm(c.oid, 'read') FROM pg_class c "
                 "JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE c.relkind IN ('r', 'i', 't', 'm') "
                 "AND n.nspname IN ('public', 'pg_toast')")

