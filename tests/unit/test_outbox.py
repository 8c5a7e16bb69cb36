"""The value a relay hands a sink: a batch of one outbox under one key, in one canonical
JSON form that a receiver reads back exactly (domain/outbox.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.outbox import (
    BUREAU_FILE,
    DEAD,
    PENDING,
    Batch,
    DeliveryFailed,
    Item,
    after_failure,
    backoff,
    decode_batch,
    key_problem,
    plan_batches,
)

ROWS = ({"loan": "L1", "amount": 129198, "name": "Z*"}, {"loan": "L2", "amount": 90000})


def test_a_batch_body_is_canonical_json_that_decodes_to_the_same_batch() -> None:
    b = Batch("agency:Alpha Recovery", "agency-1:2026-05-16:0", ROWS, date(2026, 5, 16))
    assert json.loads(b.body) == {
        "version": 1, "outbox": "agency:Alpha Recovery", "key": "agency-1:2026-05-16:0",
        "business_date": "2026-05-16", "count": 2, "rows": list(ROWS)}
    again = decode_batch(b.body)
    assert again == b and again.body == b.body
    # Row key order does not change the body: a batch built again is byte-identical.
    flipped = tuple(dict(reversed(list(r.items()))) for r in ROWS)
    assert Batch("agency:Alpha Recovery", "agency-1:2026-05-16:0", flipped,
                 date(2026, 5, 16)).body == b.body


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"outbox": "agencies"}, "outbox"),
    ({"outbox": "agency:"}, "outbox"),
    ({"outbox": "agency:a\nb"}, "outbox"),
    ({"key": ""}, "key"),
    ({"key": "../etc/passwd"}, "key"),
    ({"key": ".hidden"}, "key"),
    ({"key": "a b"}, "key"),
    ({"rows": ({"at": date(2026, 1, 1)},)}, "rows[0]"),
    ({"rows": ({"x": float("nan")},)}, "rows[0]"),
    ({"rows": ({1: "x"},)}, "rows[0]"),
    ({"rows": (["x"],)}, "rows[0]"),
    ({"business_date": datetime(2026, 1, 1, 12)}, "business_date"),
])
def test_a_batch_with_a_bad_outbox_key_row_or_date_is_refused_naming_the_field(
        kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"outbox": "notifications", "key": "n-1", "rows": ROWS,
                               "business_date": None, **kwargs}
    with pytest.raises(ValueError, match=rf"^{re.escape(field)}: "):
        Batch(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", "body"),
    (b"[]", "body"),
    (b'{"version":1,"outbox":"bureau","key":"k","business_date":null,"count":0}', "body"),
    (b'{"version":2,"outbox":"bureau","key":"k","business_date":null,"count":0,"rows":[]}',
     "version"),
    (b'{"version":1,"outbox":"bureau","key":"k","business_date":null,"count":1,"rows":[]}',
     "count"),
    (b'{"version":1,"outbox":"bureau","key":"k","business_date":"2026-13-01","count":0,'
     b'"rows":[]}', "business_date"),
    (b'{"version":1,"outbox":"x","key":"k","business_date":null,"count":0,"rows":[]}',
     "outbox"),
])
def test_a_body_that_is_not_exactly_a_batch_is_refused_naming_the_field(
        body: bytes, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        decode_batch(body)


# ---------------------------------------------------------------------- relay rules
def test_the_backoff_doubles_from_ten_seconds_up_to_an_hour_and_scales_for_drills() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert backoff(12) == backoff(500) == timedelta(hours=1)
    assert backoff(2, scale=0.25) == timedelta(seconds=5)


def test_a_failed_attempt_waits_its_backoff_or_the_sinks_hint_and_the_last_one_is_dead() -> None:
    at = datetime(2026, 5, 17, tzinfo=UTC)
    down = DeliveryFailed("k", True, "HTTP 503")
    assert after_failure(down, 1, 10, at).status == PENDING
    assert after_failure(down, 3, 10, at).retry_at == at + backoff(3)
    hinted = DeliveryFailed("k", True, "HTTP 429", retry_after=600)
    assert after_failure(hinted, 1, 10, at).retry_at == at + timedelta(seconds=600)
    assert after_failure(down, 10, 10, at).status == DEAD
    refused = DeliveryFailed("k", False, "HTTP 401")
    assert after_failure(refused, 1, 10, at).status == DEAD


def test_batches_hold_one_outbox_date_and_window_and_the_bureau_file_stays_whole() -> None:
    d = date(2026, 5, 16)
    end = datetime(2026, 5, 17, 13, tzinfo=UTC)
    items = [Item("agency:Alpha Recovery", d, f"handoffs|L{i}|{d}") for i in range(5)]
    items += [Item("agency:Beta", d, "handoffs|L9|x"), Item("notifications", d, "n|L1", end)]
    items += [Item(BUREAU_FILE, date(2026, 5, 31), f"b|L{i:04d}") for i in range(1200)]
    planned = plan_batches(items, rows=2)
    sizes = sorted((p.outbox, len(p.idents)) for p in planned)
    assert sizes == [("agency:Alpha Recovery", 1), ("agency:Alpha Recovery", 2),
                     ("agency:Alpha Recovery", 2), ("agency:Beta", 1), (BUREAU_FILE, 1200),
                     ("notifications", 1)]
    keys = [p.key for p in planned]
    assert len(set(keys)) == len(keys) and all(key_problem(k) is None for k in keys)
    assert all(":2026-05-16:" in p.key for p in planned if p.day == d)
    assert next(p for p in planned if p.outbox == "notifications").expires_at == end
    # The same rows plan to the same keys: the key depends on the rows, not on the run.
    assert [p.key for p in plan_batches(reversed(items), rows=2)] == keys
