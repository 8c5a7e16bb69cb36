"""A late loan paid off by a prepayment (SPEC 2 `repay`, 3 status, 4 OVERDUE_CLEARED).

`prepayment.repay` closes the loan (paid_off) at once; that night's overdue step
must still see it leave status overdue by being cleared: OVERDUE_CLEARED (+10),
a CLEARED bureau record, DPD 0, and its user no longer frozen. (Found missing by
these tests; fixed in eb039b8.)
"""

from __future__ import annotations

from workers.scenario import run_scenario

STORY = {
    "users": [{"id": "u1", "score": 700, "limit": 500000}],
    "loans": [{"id": "L1", "user": "u1", "principal": 90000, "annual_rate_bp": 0,
               "term_months": 3, "disbursed": "2026-01-15"}],
    "events": [{"date": "2026-02-20", "user": "u1", "kind": "repay", "loan": "L1",
                "amount": 200000}],
    "run": {"from": "2026-02-10", "to": "2026-02-25"},
}


def test_a_late_loan_paid_off_by_prepayment_is_paid_off_with_the_excess_in_the_wallet(
        db_url: str) -> None:
    result = run_scenario(STORY, database_url=db_url)
    assert result["loans"]["L1"]["status"] == "paid_off"
    assert result["loans"]["L1"]["outstanding"] == {"principal": 0, "interest": 0,
                                                    "penalty": 0}
    assert result["users"]["u1"]["wallet"] == 200000 - 90000
    assert result["ledger_balanced"] is True


def test_a_late_loan_paid_off_by_prepayment_is_cleared_and_its_user_unfrozen(
        db_url: str) -> None:
    result = run_scenario(STORY, database_url=db_url)
    reasons = [e["reason"] for e in result["score_events"]]
    assert reasons == ["OVERDUE_STARTED", "OVERDUE_CLEARED"]
    assert [b["kind"] for b in result["bureau_records"]] == ["OVERDUE", "CLEARED"]
    assert result["users"]["u1"]["limit_frozen"] is False
    assert (result["loans"]["L1"]["dpd"], result["loans"]["L1"]["bucket"]) == (0, "C")
