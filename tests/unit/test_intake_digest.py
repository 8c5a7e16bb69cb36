"""The digest of an ``events.record`` item: what KEY_REUSED compares a second sending with.

Digests are stored (``events.digest``): a change in how an item is made canonical
would turn every batch sent again after an upgrade into KEY_REUSED.
"""

from __future__ import annotations

from domain import intake

ITEM = {"key": "k-1", "kind": "wallet_topup", "user": "u1", "amount": 5000,
        "occurred_at": "2026-06-15T12:00:00+08:00", "note": "é"}


def test_the_digest_of_an_item_is_the_one_stored_by_earlier_releases() -> None:
    # sha256 of the item's JSON with sorted keys, no spaces, UTF-8 unescaped
    assert intake.digest(ITEM) == (
        "5e75253e707923d7cc110cd25c74a09dd00e8ffb7d830bbafbe46535e831491e")


def test_the_digest_ignores_the_order_fields_were_sent_in_but_not_their_values() -> None:
    assert intake.digest(dict(reversed(list(ITEM.items())))) == intake.digest(ITEM)
    assert intake.digest({**ITEM, "amount": 5001}) != intake.digest(ITEM)
