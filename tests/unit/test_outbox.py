"""The value a relay hands a sink: a batch of one outbox under one key, in one canonical
JSON form that a receiver reads back exactly (domain/outbox.py)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

import pytest

from domain.outbox import Batch, decode_batch

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
