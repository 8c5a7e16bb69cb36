"""Collection (SPEC section 6): reminders, cases, handoff, write-off, masking."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain.collection import (
    amount_owed,
    assign_agencies,
    collect,
    contact_token,
    mask_name,
    mask_phone,
    write_off,
)
from domain.config import ProductConfig

from .builders import inst, loan, posting_sum

CFG = ProductConfig()
DUE = date(2026, 3, 1)


def at_dpd(dpd: int, *, status: str | None = None, stage: str = "none", hold: bool = False):
    """A loan whose first installment (due DUE) is ``dpd`` days late; next due 2026-03-31."""
    x = loan("L1", [inst("L1", 1, DUE, 10_000, 500), inst("L1", 2, date(2026, 3, 31), 10_000, 300),
                    inst("L1", 3, date(2026, 4, 30), 10_000, 150)])
    x.dpd = dpd
    x.status = status or ("overdue" if dpd > CFG.grace_days else "active")
    x.collection_stage = stage
    x.on_hold = hold
    return x


def on(dpd: int) -> date:
    return DUE + timedelta(days=dpd - 1)


def notes(out) -> list[str]:
    return [n.kind for n in out.notifications]


# ------------------------------------------------------------------ reminders


def test_due_soon_is_sent_three_days_before_the_due_date_only():
    x = at_dpd(0)
    x.installments[0].paid_principal = 10_000
    x.installments[0].paid_interest = 500
    assert notes(collect([x], date(2026, 3, 28), CFG)) == ["due_soon"]
    assert notes(collect([x], date(2026, 3, 27), CFG)) == []
    assert notes(collect([x], date(2026, 3, 29), CFG)) == []


def test_no_due_soon_for_an_installment_already_paid():
    x = at_dpd(0)
    x.installments[1].paid_principal = 10_000
    x.installments[1].paid_interest = 300
    assert notes(collect([x], date(2026, 3, 28), CFG)) == []


@pytest.mark.parametrize(("dpd", "expected"), [
    (0, []), (1, ["overdue_reminder"]), (2, ["overdue_reminder"]), (3, ["overdue_reminder"]),
    (4, []),
])
def test_overdue_reminders_on_dpd_one_two_and_three(dpd, expected):
    x = at_dpd(dpd)
    assert notes(collect([x], on(dpd), CFG)) == expected


def test_a_hold_stops_reminders_and_escalation():
    for dpd in (2, 4, 91, 181):
        x = at_dpd(dpd, hold=True)
        out = collect([x], on(dpd), CFG)
        assert out.notifications == [] and out.opened_internal == []
        assert out.handoff_due == [] and out.written_off == [] and out.journals == []
        assert x.status == "overdue" and x.collection_stage == "none"


# ------------------------------------------------------------------ escalation


def test_an_internal_case_opens_at_dpd_four_not_before():
    assert collect([at_dpd(3)], on(3), CFG).opened_internal == []
    x = at_dpd(4)
    out = collect([x], on(4), CFG)
    assert out.opened_internal == ["L1"] and x.collection_stage == "internal"
    assert collect([x], on(5), CFG).opened_internal == []  # already open


def test_handoff_is_due_at_dpd_91_not_90():
    assert collect([at_dpd(90, stage="internal")], on(90), CFG).handoff_due == []
    x = at_dpd(91, stage="internal")
    assert collect([x], on(91), CFG).handoff_due == ["L1"]
    x.collection_stage = "agency"
    assert collect([x], on(92), CFG).handoff_due == []


def test_clearing_recalls_an_open_case():
    x = at_dpd(0, status="active", stage="agency")
    x.agency = "Alpha Recovery"
    out = collect([x], on(1), CFG)
    assert out.recalled == ["L1"]
    assert x.collection_stage == "closed" and x.agency == "Alpha Recovery"


def test_write_off_at_dpd_181_moves_what_is_owed_and_waives_future_interest():
    x = at_dpd(181, stage="agency")
    x.installments[0].penalty = 1_234
    x.installments[1].paid_interest = 100  # 200 of installment 2's interest still due
    day = on(181)  # 2026-08-28: installments 1-3 are all due by then
    x.installments.append(inst("L1", 4, date(2026, 9, 30), 10_000, 80))
    out = collect([x], day, CFG)
    assert out.written_off == ["L1"] and out.closed_users == {"u1"}
    (journal,) = out.journals
    assert journal.balanced() and posting_sum(journal.postings) == 0
    # principal 4 * 10,000; interest due 500 + 200 + 150; penalty 1,234; waived 80
    assert dict(journal.postings) == {
        "written_off:L1": 40_000 + 850 + 1_234,
        "unearned_interest": 80,
        "loan:L1:principal": -40_000,
        "loan:L1:interest": -(850 + 80),
        "loan:L1:penalty": -1_234,
    }
    assert journal.kind == "write_off" and journal.key == "write_off:L1"
    assert (x.status, x.collection_stage, x.written_off_on) == ("written_off", "written_off", day)
    assert x.dpd == 181
    assert x.outstanding() == {"principal": 40_000, "interest": 850, "penalty": 1_234}
    assert collect([x], day + timedelta(days=1), CFG).journals == []


def test_write_off_function_keeps_paid_future_interest():
    x = loan("L1", [inst("L1", 1, DUE, 1_000, 50), inst("L1", 2, date(2026, 4, 1), 1_000, 40)])
    x.installments[1].paid_interest = 15
    journal = write_off(x, date(2026, 3, 20))
    assert x.installments[1].interest == 15
    assert dict(journal.postings)["unearned_interest"] == 25


# ------------------------------------------------------------------ agencies and masking


def test_handoffs_go_in_loan_id_order_to_the_agency_with_fewest_cases_ties_by_name():
    got = assign_agencies(["L2", "L10", "L3"], {"Beta Collect": 0, "Alpha Recovery": 0})
    assert got == [("L10", "Alpha Recovery"), ("L2", "Beta Collect"), ("L3", "Alpha Recovery")]


def test_agency_assignment_counts_the_cases_already_open():
    got = assign_agencies(["L1", "L2", "L3", "L4"], {"A": 2, "B": 0, "C": 1})
    # B(0) -> B1; then B(1) ties C(1): B by name -> B2; C(1) -> C2; A(2) ties B(2), C(2): A
    assert got == [("L1", "B"), ("L2", "B"), ("L3", "C"), ("L4", "A")]


def test_no_agency_configured_is_an_error():
    with pytest.raises(ValueError, match="agency"):
        assign_agencies(["L1"], {})


def test_masking_keeps_first_character_and_first_three_and_last_two_digits():
    assert mask_name("Zhang San") == "Z*"
    assert mask_name("张三") == "张*"
    assert mask_phone("13800000000") == "138******00"
    assert mask_phone("13912345678") == "139******78"


def test_the_contact_token_is_opaque_and_stable():
    token = contact_token("u1", "secret")
    assert token == contact_token("u1", "secret")
    assert token != contact_token("u2", "secret") != contact_token("u1", "other")
    assert "13800000000" not in token and "u1" not in token


def test_amount_owed_is_all_principal_plus_interest_and_penalty_due():
    x = at_dpd(40)
    x.installments[0].penalty = 300
    # 3 * 10,000 principal + interest due by 2026-04-09 (500 + 300) + penalty 300
    assert amount_owed(x, on(40)) == 30_000 + 800 + 300
