"""Double-entry journals (SPEC section 8)."""

from __future__ import annotations

from datetime import date

import pytest

from domain import ledger

D = date(2026, 3, 1)


def test_build_merges_postings_per_account_and_drops_zeros():
    j = ledger.build("k", D, "test", "u1", None,
                     [("a", 100), ("b", -60), ("a", 20), ("b", -60), ("c", 0)])
    assert j.postings == (("a", 120), ("b", -120))
    assert j.amount == 120 and j.balanced()


def test_an_unbalanced_journal_is_refused():
    with pytest.raises(ValueError, match="does not balance"):
        ledger.build("k", D, "test", "u1", None, [("a", 100), ("b", -99)])


def test_payment_postings_take_the_whole_amount_from_the_source_and_excess_to_wallet():
    lines = ledger.payment_postings("card", "u1", {("L1", "interest"): 300,
                                                   ("L1", "principal"): 700}, excess=50)
    assert lines == [("bank_clearing", 1_050), ("loan:L1:interest", -300),
                     ("loan:L1:principal", -700), ("wallet:u1", -50)]
    assert sum(a for _, a in lines) == 0


def test_source_accounts():
    assert ledger.source_account("wallet", "u1") == "wallet:u1"
    assert ledger.source_account("fund", "u1") == "fund:u1"
    assert ledger.source_account("card", "u1") == ledger.BANK_CLEARING
    assert ledger.source_account("external", "u1") == ledger.CASH
    assert ledger.user_balance(-500) == 500
