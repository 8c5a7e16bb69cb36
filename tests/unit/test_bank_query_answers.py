"""A query's answer about a pending debit is held to the debit's own amount
(domain.bank.query_defect): what breaks the protocol is never applied."""

from __future__ import annotations

import pytest

from domain.bank import DEBITED, FAILED, PENDING, UNKNOWN, DebitResult, query_defect

AMOUNT = 30000


@pytest.mark.parametrize("result", [
    DebitResult("k", DEBITED, AMOUNT),
    DebitResult("k", DEBITED, 1),
    DebitResult("k", FAILED, 0, "insufficient_funds"),
    DebitResult("k", FAILED, 0, "card_invalid"),
    DebitResult("k", UNKNOWN),
    DebitResult("k", PENDING),
])
def test_an_answer_within_the_debit_s_amount_and_the_protocol_is_applied(
        result: DebitResult) -> None:
    assert query_defect(result, AMOUNT) is None


@pytest.mark.parametrize(("result", "why"), [
    (DebitResult("k", DEBITED, AMOUNT + 1), "outside 1..30000"),
    (DebitResult("k", DEBITED, 0), "outside 1..30000"),
    (DebitResult("k", DEBITED, -5), "outside 1..30000"),
    (DebitResult("k", DEBITED, AMOUNT, "outage"), "carries a reason"),
    (DebitResult("k", FAILED, 10, "outage"), "took 10"),
    (DebitResult("k", FAILED, 0, None), "reason None"),
    (DebitResult("k", FAILED, 0, "bank_holiday"), "reason 'bank_holiday'"),
    (DebitResult("k", UNKNOWN, 5), "took 5"),
    (DebitResult("k", UNKNOWN, 0, "outage"), "carries a reason"),
    (DebitResult("k", "settled", AMOUNT), "is not one of"),
])
def test_an_answer_the_debit_s_amount_or_the_protocol_refuses_is_named(
        result: DebitResult, why: str) -> None:
    defect = query_defect(result, AMOUNT)
    assert defect is not None and why in defect
