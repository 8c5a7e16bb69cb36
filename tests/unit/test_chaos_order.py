"""The chaos drill places each event of the harmed run in the clean run where the lock
order put it (drills/chaos_order.py)."""

from __future__ import annotations

from datetime import date

import pytest

from drills.chaos_order import ChunkStamps, place

pytestmark = pytest.mark.drills

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)


def _night() -> list[ChunkStamps]:
    """Two chunks (u1..u4, u5..u9) of deduct and overdue on D1, then the single close of
    the day's money, then D2's deduct: stamps in the order they happened."""
    return [
        ChunkStamps(D1, "deduct", 0, "u1", "u4", 1, 3, 6),
        ChunkStamps(D1, "deduct", 1, "u5", "u9", 2, 4, 8),
        ChunkStamps(D1, "overdue", 0, "u1", "u4", 9, None, 11),
        ChunkStamps(D1, "overdue", 1, "u5", "u9", 10, None, 12),
        ChunkStamps(D1, "reconcile_close", 0, "", "", 13, None, 20),
        ChunkStamps(D2, "deduct", 0, "u1", "u4", 21, 22, 25),
        ChunkStamps(D2, "deduct", 1, "u5", "u9", 23, 24, None),  # never completed
    ]


def test_an_event_before_its_users_chunk_completed_goes_before_that_chunk() -> None:
    plan = place([(0, "k0", "u2"), (7, "k7", "u2")], _night())
    assert plan.before == {(D1, "deduct", 0): ["k0"], (D1, "overdue", 0): ["k7"]}
    assert plan.between == {} and plan.after == []


def test_another_chunks_stamp_does_not_place_an_event_of_this_users_chunk() -> None:
    # stamp 7 comes after chunk 0's deduct (6) but before chunk 1's (8): for u6 it is
    # inside chunk 1's deduct, which had written its intents (4)
    plan = place([(7, "k", "u6")], _night())
    assert plan.between == {(D1, "deduct", 1): ["k"]}


def test_an_event_between_the_deducts_two_transactions_goes_between_them() -> None:
    plan = place([(4, "k", "u3")], _night())  # intents at 3, done at 6
    assert plan.between == {(D1, "deduct", 0): ["k"]} and plan.before == {}


def test_a_step_that_reads_without_the_users_lock_orders_by_its_start() -> None:
    # reconcile_close started at 13 and completed at 20: an event at 15 came after its
    # start, so it goes with the next step of the user's chunk, D2's deduct
    plan = place([(12, "early", "u1"), (15, "late", "u1")], _night())
    assert plan.before == {(D1, "reconcile_close", 0): ["early"], (D2, "deduct", 0): ["late"]}


def test_an_event_after_every_completed_chunk_of_its_user_goes_after_the_last_date() -> None:
    plan = place([(26, "a", "u2"), (25, "b", "u7")], _night())
    assert plan.after == ["b", "a"]  # in stamp order
    assert plan.count() == 2


def test_events_with_one_stamp_keep_the_order_they_were_given_in() -> None:
    plan = place([(0, "z", "u1"), (0, "a", "u1"), (0, "m", "u1")], _night())
    assert plan.before == {(D1, "deduct", 0): ["z", "a", "m"]}


def test_a_held_users_events_go_to_the_step_its_release_replayed_next() -> None:
    chunks = [
        ChunkStamps(D1, "deduct", 0, "u1", "u4", 1, 2, 5, rank=0),
        ChunkStamps(D1, "overdue", 0, "u1", "u4", 6, None, 9, rank=1),  # quarantined
        ChunkStamps(D1, "reconcile_close", 0, "", "", 12, None, 13, rank=7),
        ChunkStamps(D2, "deduct", 0, "u1", "u4", 14, 15, 16, rank=0),
        # after the night, the release replays u2's chunk from the step that held it
        ChunkStamps(D1, "overdue", 0, "u1", "u4", None, None, 30, release=True, rank=1),
        ChunkStamps(D2, "deduct", 0, "u1", "u4", None, None, 35, release=True, rank=0),
    ]
    plan = place([(0, "early", "u2"), (10, "held", "u2"), (10, "free", "u3")], chunks,
                 held={"u2": (D1, 1)})
    assert plan.before == {(D1, "deduct", 0): ["early"], (D1, "overdue", 0): ["held"],
                           (D1, "reconcile_close", 0): ["free"]}
