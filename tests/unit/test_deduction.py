"""Repayment auto-deduction (SPEC section 2): collection order, sources, journals."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain import ledger
from domain.deduction import (
    allocate,
    apply_card_debit,
    apply_value_dated_debit,
    card_request_amount,
    deduction_key,
    due_debts,
    loan_days_late,
    take_from_balance,
)
from domain.model import Installment

from .builders import inst, loan, posting_sum, user

D = date(2026, 3, 20)
COMPONENT_RANK = {"penalty": 0, "interest": 1, "principal": 2}

# ------------------------------------------------------------------ strategies

loan_ids = st.sampled_from(["L1", "L2", "L10", "L3", "L20", "A7"])


@st.composite
def debt_books(draw):
    """A few loans of one user, with installments due on or before D and open amounts."""
    ids = draw(st.lists(loan_ids, min_size=1, max_size=4, unique=True))
    loans = []
    for lid in ids:
        count = draw(st.integers(1, 4))
        rows = []
        for no in range(1, count + 1):
            due = D - timedelta(days=draw(st.integers(0, 60)))
            rows.append(inst(lid, no, due,
                             principal=draw(st.integers(0, 50_000)),
                             interest=draw(st.integers(0, 2_000)),
                             penalty=draw(st.integers(0, 500))))
        loans.append(loan(lid, rows))
    return loans


def snapshot(loans) -> dict[tuple[str, int, str], int]:
    return {(i.loan_id, i.no, c): i.owed(c)
            for x in loans for i in x.installments for c in COMPONENT_RANK}


def expected_order(loans) -> list[tuple[str, int, str]]:
    """SPEC 2, written out: due date, loan id as a string, installment no; P, I, principal."""
    items = [i for x in loans for i in x.installments]
    items.sort(key=lambda i: (i.due_date.toordinal(), i.loan_id, i.no))
    return [(i.loan_id, i.no, c) for i in items
            for c in sorted(COMPONENT_RANK, key=COMPONENT_RANK.__getitem__)]


# ------------------------------------------------------------------ allocation


@given(debt_books(), st.integers(0, 400_000))
def test_waterfall_never_takes_more_than_is_owed_nor_more_than_offered(loans, amount):
    before = snapshot(loans)
    owed_total = sum(before.values())
    allocations, left = allocate(amount, due_debts(loans, D))
    after = snapshot(loans)
    taken = {k: before[k] - after[k] for k in before}
    assert all(0 <= taken[k] <= before[k] for k in before)
    assert sum(taken.values()) == min(amount, owed_total)
    assert sum(allocations.values()) == min(amount, owed_total)
    assert left == amount - min(amount, owed_total)
    for (loan_id, component), value in allocations.items():
        assert value == sum(v for (lid, _, c), v in taken.items()
                            if lid == loan_id and c == component)


@given(debt_books(), st.integers(0, 400_000))
def test_a_later_debt_gets_nothing_until_every_earlier_debt_is_fully_paid(loans, amount):
    before = snapshot(loans)
    allocate(amount, due_debts(loans, D))
    after = snapshot(loans)
    order = [k for k in expected_order(loans) if before[k] > 0]
    seen_unpaid = False
    for k in order:
        if seen_unpaid:
            assert after[k] == before[k], f"{k} was paid before an earlier debt was cleared"
        if after[k] > 0:
            seen_unpaid = True


def test_loan_ids_sort_as_strings_so_l10_is_paid_before_l2():
    due = date(2026, 3, 1)
    l2 = loan("L2", [inst("L2", 1, due, 10_000)])
    l10 = loan("L10", [inst("L10", 1, due, 10_000)])
    allocations, left = allocate(12_000, due_debts([l2, l10], D))
    assert allocations == {("L10", "principal"): 10_000, ("L2", "principal"): 2_000}
    assert left == 0


def test_oldest_due_date_comes_before_loan_id_and_installment_number():
    newer = loan("L1", [inst("L1", 1, date(2026, 3, 10), 5_000)])
    older = loan("L9", [inst("L9", 2, date(2026, 2, 10), 5_000)])
    debts = due_debts([newer, older], D)
    assert [(d.installment.loan_id, d.installment.no) for d in debts] == [("L9", 2), ("L1", 1)]


def test_within_an_installment_penalty_then_interest_then_principal():
    one = loan("L1", [inst("L1", 1, date(2026, 3, 1), 10_000, 500, penalty=30)])
    allocations, _ = allocate(400, due_debts([one], D))
    assert allocations == {("L1", "penalty"): 30, ("L1", "interest"): 370}
    allocations, _ = allocate(1_000, due_debts([one], D))
    assert allocations == {("L1", "interest"): 130, ("L1", "principal"): 870}
    i = one.installments[0]
    assert (i.out_penalty, i.out_interest, i.out_principal) == (0, 0, 9_130)


def test_installments_not_yet_due_and_closed_loans_are_not_collected():
    live = loan("L1", [inst("L1", 1, D, 1_000), inst("L1", 2, D + timedelta(days=1), 1_000)])
    paid = loan("L2", [inst("L2", 1, D, 1_000)], status="paid_off")
    gone = loan("L3", [inst("L3", 1, D, 1_000)], status="written_off")
    debts = due_debts([live, paid, gone], D)
    assert [(d.installment.loan_id, d.installment.no, d.component) for d in debts] == [
        ("L1", 1, "principal")]


def test_daytime_attempts_skip_loans_more_than_thirty_days_late():
    # due 2026-02-17: on 2026-03-19 days late = 30 + 1 = 31 (> 30)
    late = loan("L1", [inst("L1", 1, date(2026, 2, 17), 1_000)])
    # due 2026-02-18: days late on 2026-03-19 = 30, still collected in the daytime
    borderline = loan("L2", [inst("L2", 1, date(2026, 2, 18), 1_000)])
    on = date(2026, 3, 19)
    assert loan_days_late(late, on) == 31
    assert loan_days_late(borderline, on) == 30
    day = due_debts([late, borderline], on, daytime=True, late_after_days=30)
    assert [d.installment.loan_id for d in day] == ["L2"]
    night = due_debts([late, borderline], on, daytime=False, late_after_days=30)
    assert [d.installment.loan_id for d in night] == ["L1", "L2"]


def test_days_late_is_one_on_the_due_date():
    one = loan("L1", [inst("L1", 1, D, 1_000)])
    assert loan_days_late(one, D) == 1
    assert loan_days_late(one, D - timedelta(days=1)) == 0


# ------------------------------------------------------------------ sources and journals


def test_wallet_gives_what_is_owed_and_its_journal_balances():
    u = user(wallet=50_000)
    one = loan("L1", [inst("L1", 1, D, 29_000, 1_000)])
    journal = take_from_balance(u, [one], D, "0600", "wallet", u.wallet,
                                daytime=True, late_after_days=30)
    assert journal is not None
    assert u.wallet == 20_000
    assert journal.balanced() and posting_sum(journal.postings) == 0
    assert dict(journal.postings) == {
        "wallet:u1": 30_000,
        "loan:L1:interest": -1_000,
        "loan:L1:principal": -29_000,
    }
    assert journal.key == "deduct:u1:2026-03-20:0600:wallet"
    assert journal.kind == "deduct_wallet"
    assert one.installments[0].outstanding == 0


def test_fund_gives_only_what_it_may_and_its_journal_balances():
    u = user(fund=80_000)
    one = loan("L1", [inst("L1", 1, D, 29_000, 1_000)])
    journal = take_from_balance(u, [one], D, "cob", "fund", 12_345,
                                daytime=False, late_after_days=30)
    assert journal is not None and journal.balanced()
    assert u.fund == 80_000 - 12_345
    assert dict(journal.postings) == {
        "fund:u1": 12_345, "loan:L1:interest": -1_000, "loan:L1:principal": -11_345}


def test_nothing_owed_or_nothing_held_books_no_journal():
    u = user(wallet=0)
    one = loan("L1", [inst("L1", 1, D, 1_000)])
    assert take_from_balance(u, [one], D, "cob", "wallet", 0,
                             daytime=False, late_after_days=30) is None
    future = loan("L2", [inst("L2", 1, D + timedelta(days=3), 1_000)])
    u.wallet = 5_000
    assert take_from_balance(u, [future], D, "cob", "wallet", 5_000,
                             daytime=False, late_after_days=30) is None
    assert u.wallet == 5_000


def test_card_is_not_asked_without_consent_when_blocked_or_while_a_debit_pends():
    one = loan("L1", [inst("L1", 1, D, 7_000, 300)])
    u = user()
    assert card_request_amount(u, [one], D, daytime=False, late_after_days=30,
                               has_pending=False) == 7_300
    assert card_request_amount(u, [one], D, daytime=False, late_after_days=30,
                               has_pending=True) == 0
    u.consent_card = False
    assert card_request_amount(u, [one], D, daytime=False, late_after_days=30,
                               has_pending=False) == 0
    u.consent_card, u.card_blocked = True, True
    assert card_request_amount(u, [one], D, daytime=False, late_after_days=30,
                               has_pending=False) == 0


def test_card_money_beyond_what_is_owed_goes_to_the_wallet_in_the_same_journal():
    u = user(wallet=100)
    one = loan("L1", [inst("L1", 1, D, 7_000, 300)])
    journal, allocations = apply_card_debit(u, [one], D, "k1", 10_000, value_date=D)
    assert allocations == {("L1", "interest"): 300, ("L1", "principal"): 7_000}
    assert u.wallet == 100 + 2_700
    assert journal.balanced()
    assert dict(journal.postings) == {
        ledger.BANK_CLEARING: 10_000, "loan:L1:interest": -300,
        "loan:L1:principal": -7_000, "wallet:u1": -2_700}


def test_deduction_keys_differ_per_user_date_attempt_and_source():
    keys = {deduction_key(u, d, a, s) for u in ("u1", "u2") for d in (D, D + timedelta(1))
            for a in ("0600", "cob") for s in ("wallet", "card", "fund")}
    assert len(keys) == 2 * 2 * 2 * 3


def test_value_dated_debit_reverses_penalty_booked_on_the_principal_it_paid():
    # 36,000 unpaid at 2,000 bp: penalty rate min(3,000, 3,600) = 3,000 bp,
    # per day round(36,000 * 3000 / 10000 / 360) = 30; booked on D and D+1 (60).
    # A debit of 18,000 value-dated D pays principal only (the penalty of D
    # and later did not exist yet on D), leaving 18,000 -> 15 a day:
    # 30 of the 60 is reversed.
    d1 = date(2026, 3, 10)
    row = Installment("L1", 1, date(2026, 3, 1), date(2026, 2, 1), 36_000, 0, penalty=60)
    one = loan("L1", [row], rate_bp=2000)
    u = user()
    accruals = [("L1", 1, d1, 36_000, 30, True), ("L1", 1, d1 + timedelta(1), 36_000, 30, True)]

    def per_day(base: int, rate: int) -> int:
        return (base * min(rate * 3 // 2, 3600) * 2 + 3_600_000) // 7_200_000

    journals, updated = apply_value_dated_debit(u, [one], "k", 18_000, d1, d1 + timedelta(2),
                                                accruals, per_day)
    assert [j.kind for j in journals] == ["deduct_card", "penalty_reversal"]
    assert all(j.balanced() for j in journals)
    assert dict(journals[0].postings) == {ledger.BANK_CLEARING: 18_000,
                                          "loan:L1:principal": -18_000}
    assert dict(journals[1].postings) == {"loan:L1:penalty": -30, ledger.PENALTY_INCOME: 30}
    assert row.penalty == 30 and row.out_principal == 18_000
    assert [(base, value) for _, _, _, base, value, _ in updated] == [(18_000, 15), (18_000, 15)]


def test_value_dated_debit_recomputes_penalty_still_pending_in_grace():
    # due D1, unpaid after D1's deduct: 27 pending (36,000 at 2700 bp). A card
    # debit of 24,000 that resolves value-dated D1 leaves 12,000: round(9) = 9.
    d1 = date(2026, 3, 1)
    row = Installment("L1", 1, d1, date(2026, 2, 1), 36_000, 0, pending_penalty=27)
    one = loan("L1", [row], rate_bp=1800)

    def per_day(base: int, rate: int) -> int:
        return (base * 2700 * 2 + 3_600_000) // 7_200_000

    journals, updated = apply_value_dated_debit(user(), [one], "k", 24_000, d1, d1,
                                                [("L1", 1, d1, 36_000, 27, False)], per_day)
    assert [j.kind for j in journals] == ["deduct_card"]
    assert row.pending_penalty == 9 and row.penalty == 0
    assert updated == [("L1", 1, d1, 12_000, 9, False)]
