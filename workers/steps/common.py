"""Shared pieces of the steps: the chunk transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from domain.steps import StepKey
from store import cycle as cyc
from store.engine import Connection, Engine


@contextmanager
def chunk_tx(engine: Engine, on: date, key: StepKey, chunk_no: int
             ) -> Iterator[Connection | None]:
    """A transaction that owns the chunk; yields None when the chunk is already done."""
    with engine.begin() as conn:
        row = cyc.claim_chunk(conn, on, key, chunk_no)
        yield None if row is None else conn
