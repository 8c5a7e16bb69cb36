"""Prepayment from outside (SPEC section 2 `repay`, DECISIONS "Prepayment").

The standard loan (builders.standard_loan): 120,000 fen at 1,800 bp
(r = 3/200) over 3 months from 2026-01-15, rows (39,406 + 1,800),
(39,997 + 1,209), (40,597 + 609); scheduled interest 3,618. The first
period runs 2026-01-15 -> 2026-02-15 (31 days), the second 02-15 -> 03-15
(28 days).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.deduction import due_debts
from domain.model import Installment, Loan
from domain.prepayment import RepayRefused, accrued_interest, repay

from .builders import amortise, inst, loan, standard_loan, user

JAN25 = date(2026, 1, 25)
FEB20 = date(2026, 2, 20)


def balances(journals, opening: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int, opening)
    for j in journals:
        for account, amount in j.postings:
            out[account] += amount
    return dict(out)


def disbursed(loan_id: str = "L1") -> dict[str, int]:
    """Receivables as booked at disbursement: principal and scheduled interest."""
    return {f"loan:{loan_id}:principal": 120_000, f"loan:{loan_id}:interest": 3_618}


def test_accrued_interest_counts_the_days_of_the_current_period_to_the_payment_date():
    # 10 of 31 days on 120,000: round(0.015 * 120,000 * 10 / 31) = round(580.645) = 581
    assert accrued_interest(standard_loan(), JAN25) == 581
    # first day of the period: nothing has accrued
    assert accrued_interest(standard_loan(), date(2026, 1, 15)) == 0


def test_partial_prepayment_pays_accrued_interest_then_principal_and_reamortises():
    x, u = standard_loan(), user()
    out = repay(u, [x], "L1", 50_000, JAN25, "repay:1")
    # 581 accrued interest, 49,419 principal; 70,581 left over the same 3 due dates
    assert out.allocations == {("L1", "interest"): 581, ("L1", "principal"): 49_419}
    assert out.excess == 0
    new_rows = amortise(70_581, 1800, 3)
    # A' = round(1,058.715 / (1 - 1.015^-3)) = 24,236: (23,177, 1,059), (23,525, 711),
    # (23,879, 358)
    assert new_rows == [(23_177, 1_059), (23_525, 711), (23_879, 358)]
    first, second, third = x.installments
    assert [i.due_date for i in x.installments] == [
        date(2026, 2, 15), date(2026, 3, 15), date(2026, 4, 15)]
    assert first.out_principal == 23_177
    # the current period's interest: 120,000 for 10 days, 70,581 for 21 days:
    # round(0.015 * (1,200,000 + 1,482,201) / 31) = round(1,297.84) = 1,298
    assert (first.interest, first.paid_interest, first.out_interest) == (1_298, 581, 717)
    assert (second.out_principal, second.out_interest) == (23_525, 711)
    assert (third.out_principal, third.out_interest) == (23_879, 358)
    assert x.remaining_principal() == 70_581
    assert x.status == "active"


def test_partial_prepayment_journals_balance_and_keep_receivables_equal_to_outstanding():
    x, u = standard_loan(), user()
    out = repay(u, [x], "L1", 50_000, JAN25, "repay:1")
    assert [j.kind for j in out.journals] == ["repay", "interest_adjustment"]
    assert all(j.balanced() for j in out.journals)
    assert dict(out.journals[0].postings) == {
        "cash": 50_000, "loan:L1:interest": -581, "loan:L1:principal": -49_419}
    # scheduled interest 3,618 -> 1,298 + 711 + 358 = 2,367: 1,251 less
    assert dict(out.journals[1].postings) == {
        "loan:L1:interest": -1_251, "unearned_interest": 1_251}
    book = balances(out.journals, disbursed())
    assert book["loan:L1:principal"] == x.outstanding()["principal"] == 70_581
    assert book["loan:L1:interest"] == x.outstanding()["interest"] == 717 + 711 + 358


def test_a_second_prepayment_in_the_same_period_accrues_on_each_principal_for_its_days():
    x, u = standard_loan(), user()
    repay(u, [x], "L1", 50_000, JAN25, "repay:1")
    feb5 = date(2026, 2, 5)
    # principal-days so far: 120,000 * 10 + 70,581 * 11 = 1,976,391
    # period interest to Feb 5: round(0.015 * 1,976,391 / 31) = round(956.32) = 956,
    # 581 already paid -> 375 accrued
    assert accrued_interest(x, feb5) == 375
    out = repay(u, [x], "L1", 10_000, feb5, "repay:2")
    assert out.allocations == {("L1", "interest"): 375, ("L1", "principal"): 9_625}
    first, second, third = x.installments
    # 60,956 re-amortised: (20,017, 914), (20,317, 614), (20,622, 309)
    assert amortise(60_956, 1800, 3) == [(20_017, 914), (20_317, 614), (20_622, 309)]
    assert (first.out_principal, second.out_principal, third.out_principal) == (
        20_017, 20_317, 20_622)
    # whole period: round(0.015 * (1,976,391 + 60,956 * 10) / 31) = round(1,251.27) = 1,251
    assert first.interest == 1_251
    assert (second.out_interest, third.out_interest) == (614, 309)


def test_prepayment_pays_everything_due_first_then_accrued_interest_then_principal():
    x, u = standard_loan(), user()
    out = repay(u, [x], "L1", 51_422, FEB20, "repay:1")
    # due: installment 1, 1,800 + 39,406 = 41,206; accrued over 5 of 28 days on 80,594:
    # round(0.015 * 80,594 * 5 / 28) = round(215.88) = 216; principal 10,000
    assert out.allocations == {("L1", "interest"): 1_800 + 216,
                               ("L1", "principal"): 39_406 + 10_000}
    first, second, third = x.installments
    assert first.outstanding == 0
    assert amortise(70_594, 1800, 2) == [(35_034, 1_059), (35_560, 533)]
    assert (second.out_principal, third.out_principal) == (35_034, 35_560)
    # round(0.015 * (80,594 * 5 + 70,594 * 23) / 28) = round(1,085.70) = 1,086
    assert second.interest == 1_086 and third.interest == 533
    book = balances(out.journals, disbursed())
    assert book["loan:L1:interest"] == x.outstanding()["interest"] == 1_086 - 216 + 533


def test_a_payment_short_of_what_is_due_only_pays_what_is_due():
    x, u = standard_loan(), user()
    out = repay(u, [x], "L1", 30_000, FEB20, "repay:1")
    assert out.allocations == {("L1", "interest"): 1_800, ("L1", "principal"): 28_200}
    assert [j.kind for j in out.journals] == ["repay"]
    assert [(i.principal, i.interest) for i in x.installments[1:]] == [
        (39_997, 1_209), (40_597, 609)]


def test_full_payoff_closes_the_loan_removes_future_interest_and_sends_the_rest_to_wallet():
    x, u = standard_loan(), user(wallet=100)
    out = repay(u, [x], "L1", 200_000, JAN25, "repay:1")
    # 581 accrued + 120,000 principal = 120,581; 79,419 beyond it goes to the wallet
    assert out.excess == 79_419 and u.wallet == 100 + 79_419
    assert x.status == "paid_off"
    assert x.outstanding() == {"principal": 0, "interest": 0, "penalty": 0}
    assert x.paid() == {"principal": 120_000, "interest": 581, "penalty": 0}
    assert all(j.balanced() for j in out.journals)
    assert dict(out.journals[0].postings) == {
        "cash": 200_000, "loan:L1:interest": -581, "loan:L1:principal": -120_000,
        "wallet:u1": -79_419}
    assert dict(out.journals[1].postings) == {
        "loan:L1:interest": -(3_618 - 581), "unearned_interest": 3_618 - 581}
    book = balances(out.journals, disbursed())
    assert book["loan:L1:principal"] == book["loan:L1:interest"] == 0


def test_paying_exactly_what_is_owed_closes_the_loan_with_nothing_left():
    x, u = standard_loan(), user()
    out = repay(u, [x], "L1", 120_581, JAN25, "repay:1")
    assert out.excess == 0 and u.wallet == 0 and x.status == "paid_off"


def test_no_loan_named_pays_everything_due_then_loans_in_id_order():
    l10, l2, u = standard_loan("L10"), standard_loan("L2"), user()
    out = repay(u, [l2, l10], None, 130_000, JAN25, "repay:1")
    # L10 first: 581 + 120,000; then L2: 581 accrued and 8,838 principal
    assert l10.status == "paid_off"
    assert out.allocations[("L2", "interest")] == 581
    assert out.allocations[("L2", "principal")] == 130_000 - 120_581 - 581
    assert l2.remaining_principal() == 120_000 - 8_838
    assert out.excess == 0


def test_no_loan_named_pays_due_debts_across_loans_before_any_prepayment():
    l1 = standard_loan("L1")
    l2 = loan("L2", [inst("L2", 1, date(2026, 2, 1), 5_000, 100, start=date(2026, 1, 1)),
                     inst("L2", 2, date(2026, 3, 1), 5_000, 50, start=date(2026, 2, 1))])
    out = repay(user(), [l1, l2], None, 41_206 + 5_100, FEB20, "repay:1")
    # L2 #1 (due Feb 1) before L1 #1 (due Feb 15); nothing left for prepayment
    assert l2.installments[0].outstanding == 0 and l1.installments[0].outstanding == 0
    assert out.allocations == {("L2", "interest"): 100, ("L2", "principal"): 5_000,
                               ("L1", "interest"): 1_800, ("L1", "principal"): 39_406}


def test_repaying_a_written_off_loan_is_a_recovery():
    x = loan("L1", [Installment("L1", 1, date(2026, 1, 1), date(2025, 12, 1), 10_000, 0,
                                penalty=200)], status="written_off")
    u = user()
    out = repay(u, [x], "L1", 15_000, date(2026, 9, 1), "repay:9")
    (journal,) = out.journals
    assert journal.kind == "recovery" and journal.balanced()
    assert dict(journal.postings) == {"cash": 15_000, "written_off:L1": -10_200,
                                      "wallet:u1": -4_800}
    assert u.wallet == 4_800 and x.total_outstanding() == 0


@given(amount=st.integers(1, 300_000), offset=st.integers(1, 88))
def test_every_repayment_balances_and_leaves_receivables_equal_to_outstanding(amount, offset):
    x, u = standard_loan(), user()
    on = date(2026, 1, 15) + timedelta(days=offset)
    owed_principal = x.remaining_principal()
    out = repay(u, [x], "L1", amount, on, "k")
    assert all(j.balanced() for j in out.journals)
    assert sum(out.allocations.values()) + out.excess == amount
    assert u.wallet == out.excess
    book = balances(out.journals, disbursed())
    owed = x.outstanding()
    assert book["loan:L1:principal"] == owed["principal"]
    assert book["loan:L1:interest"] == owed["interest"]
    assert owed["principal"] == owed_principal - out.allocations.get(("L1", "principal"), 0)
    assert all(i.out_principal >= 0 and i.out_interest >= 0 for i in x.installments)
    assert (x.status == "paid_off") == (x.total_outstanding() == 0)


# ---------------------------------------------------------------- never rewrites history
FEB15, CLOSED = date(2026, 2, 15), date(2026, 2, 20)


def first_paid_by_deduction() -> Loan:
    """The standard loan after the deduction of 2026-02-15 took installment 1 in full."""
    x = standard_loan()
    first = x.installments[0]
    first.paid_principal, first.paid_interest = first.principal, first.interest
    return x


def amounts(x: Loan) -> list[tuple[int, ...]]:
    return [(i.principal, i.interest, i.penalty, i.paid_principal, i.paid_interest,
             i.paid_penalty) for i in x.installments]


@pytest.mark.parametrize(("on", "message"), [
    (date(2020, 1, 1), "2020-01-01 is on or before the last closed business date 2026-02-20"),
    (FEB15, "2026-02-15 is on or before the last closed business date 2026-02-20"),
    (CLOSED, "2026-02-20 is on or before the last closed business date 2026-02-20"),
])
def test_a_repayment_dated_on_or_before_the_last_closed_date_is_refused_naming_date(
        on: date, message: str) -> None:
    x, u = first_paid_by_deduction(), user()
    before = amounts(x)
    with pytest.raises(RepayRefused) as refused:
        repay(u, [x], "L1", 1_000, on, "repay:1", closed_through=CLOSED)
    assert (refused.value.refusal.code, refused.value.refusal.field) == ("DATE_CLOSED", "date")
    assert str(refused.value).startswith(f"date: {message}")
    assert amounts(x) == before and u.wallet == 0 and not x.dirty
    # the demo case: the paid first installment stays paid, so the next night takes nothing
    assert due_debts([x], CLOSED + timedelta(days=1)) == []


def test_a_repayment_dated_before_the_disbursement_is_refused_naming_date() -> None:
    x, u = first_paid_by_deduction(), user()
    before = amounts(x)
    with pytest.raises(RepayRefused) as refused:
        repay(u, [x], "L1", 1_000, date(2020, 1, 1), "repay:1")
    assert (refused.value.refusal.code, str(refused.value)) == (
        "BEFORE_DISBURSEMENT", "date: 2020-01-01 is before loan L1's disbursement on 2026-01-15")
    assert amounts(x) == before
    with pytest.raises(RepayRefused, match="before loan L1's disbursement"):  # no loan named
        repay(u, [x], None, 1_000, date(2026, 1, 14), "repay:2")


def test_a_repayment_dated_before_the_loans_last_prepayment_is_refused_naming_date() -> None:
    x, u = standard_loan(), user()
    repay(u, [x], "L1", 50_000, FEB20 - timedelta(days=10), "repay:1")
    before = amounts(x)
    with pytest.raises(RepayRefused) as refused:
        repay(u, [x], "L1", 1_000, JAN25, "repay:2")
    assert (refused.value.refusal.code, str(refused.value)) == (
        "BEFORE_LAST_REPAYMENT", "date: 2026-01-25 is before loan L1's last prepayment on "
                                 "2026-02-10")
    assert amounts(x) == before


def test_a_repayment_naming_an_unknown_loan_is_refused_naming_loan() -> None:
    x, u = standard_loan(), user()
    with pytest.raises(RepayRefused) as refused:
        repay(u, [x], "L9", 1_000, JAN25, "repay:1")
    assert (refused.value.refusal.code, str(refused.value)) == (
        "UNKNOWN_LOAN", "loan: unknown loan 'L9' of user 'u1'")
    assert u.wallet == 0 and not x.dirty


@given(amount=st.integers(1, 300_000), closed=st.integers(0, 80), offset=st.integers(-400, 90))
def test_no_prepayment_changes_an_installment_already_paid_or_past_due(
        amount: int, closed: int, offset: int) -> None:
    """Whatever its date, a repayment is refused, or every installment due by the last
    closed date keeps its amounts (it may only be paid what it owes)."""
    x, u = first_paid_by_deduction(), user()
    closed_through = FEB15 + timedelta(days=closed)
    before = copy.deepcopy(x.installments)
    try:
        repay(u, [x], "L1", amount, closed_through + timedelta(days=offset), "k",
              closed_through=closed_through)
    except RepayRefused as refused:
        assert refused.refusal.field == "date" and offset <= 0
        assert x.installments == before
        return
    for new, old in zip(x.installments, before, strict=True):
        if old.due_date > closed_through:
            continue
        assert (new.principal, new.interest, new.penalty) == (
            old.principal, old.interest, old.penalty)
        assert new.paid_principal >= old.paid_principal
        assert new.paid_interest >= old.paid_interest
        assert new.paid_penalty >= old.paid_penalty
        if old.outstanding == 0:
            assert new == old
