"""The import's writer gets its batches from a reader thread a few batches ahead."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from workers.book_import import _ahead


def test_batches_made_ahead_arrive_in_order_and_the_readers_error_is_raised_to_the_writer(
        ) -> None:
    def made() -> Iterator[int]:
        yield from range(5)
        raise ValueError("loans.csv changed between the passes")

    got = []
    with pytest.raises(ValueError, match="changed between"):
        for item in _ahead(made(), depth=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_a_writer_that_stops_early_stops_the_reader_thread() -> None:
    def endless() -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    before = threading.active_count()
    items = _ahead(endless(), depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()  # the writer's transaction failed: no more batches wanted
    assert threading.active_count() == before
