"""User flags after the night's steps (domain/flags.py) and the effects of outside
events (domain/effects.py)."""

from __future__ import annotations

from datetime import date

import pytest

from domain import effects, flags
from domain.activity import Activity
from domain.config import ProductConfig
from domain.flags import Flags
from domain.model import OVERDUE

from .builders import inst, loan, user

D = date(2026, 3, 20)


def test_a_user_with_any_loan_overdue_is_frozen() -> None:
    a = loan("L1", [inst("L1", 1, D, 100)], user="u1", status=OVERDUE)
    b = loan("L2", [inst("L2", 1, D, 100)], user="u1")
    c = loan("L3", [inst("L3", 1, D, 100)], user="u2")
    assert flags.frozen_while_overdue([a, b, c]) == {"u1": True, "u2": False}


def test_only_the_flags_that_moved_are_written() -> None:
    same = Flags("u1", True, False, date(2026, 4, 1))
    assert flags.after_overdue([same], {"u1": True}, set(), set(), D) == []


def test_a_user_whose_overdue_loans_cleared_is_unfrozen_and_keeps_the_history() -> None:
    before = Flags("u1", True, False, date(2026, 4, 1))
    assert flags.after_overdue([before], {"u1": False}, {"u1"}, {"u1"}, D) == [
        Flags("u1", False, True, D)]


def test_a_status_change_brings_the_recalculation_forward_never_back() -> None:
    earlier = Flags("u1", False, False, date(2026, 3, 1))
    later = Flags("u2", False, False, date(2026, 5, 1))
    unknown = Flags("u3", False, False, None)
    out = flags.after_overdue([earlier, later, unknown], {}, {"u1", "u2", "u3"}, set(), D)
    assert out == [Flags("u2", False, False, D), Flags("u3", False, False, D)]


def test_a_history_is_not_kept_while_another_loan_is_still_overdue() -> None:
    f = Flags("u1", True, False, None)
    assert flags.after_overdue([f], {"u1": True}, set(), {"u1"}, D) == []


def test_the_next_recalculation_comes_an_interval_later() -> None:
    config = ProductConfig()
    assert (flags.next_recalculation(D, config) - D).days == config.limit_recalc_interval_days


def test_a_closed_user_has_no_limit_and_is_frozen() -> None:
    assert [(c.user_id, c.closed, c.credit_limit, c.limit_frozen)
            for c in flags.closed_users({"u2", "u1"})] == [("u1", True, 0, True),
                                                            ("u2", True, 0, True)]


# ---------------------------------------------------------------- outside events
def test_money_into_the_wallet_or_the_fund_grows_it_with_a_journal() -> None:
    u = user("u1")
    j = effects.money_in(u, "wallet_topup", "k1", 500, D)
    f = effects.money_in(u, "fund_deposit", "k2", 700, D)
    assert (u.wallet, u.fund, u.dirty) == (500, 700, True)
    assert (j.key, j.kind, sum(a for _, a in j.postings)) == ("wallet_topup:k1",
                                                              "wallet_topup", 0)
    assert f.key == "fund_deposit:k2"


def test_money_to_the_card_is_no_wallet_or_fund_money() -> None:
    with pytest.raises(ValueError, match="card_deposit"):
        effects.money_in(user("u1"), "card_deposit", "k", 1, D)


def test_a_hold_stops_collection_and_its_release_resumes_it() -> None:
    assert effects.holds_collection("collection_hold")
    assert not effects.holds_collection("collection_release")


def test_a_new_card_may_be_asked_again() -> None:
    u = user("u1")
    u.card_blocked = True
    effects.card_changed(u)
    assert not u.card_blocked and u.dirty


def test_a_signal_makes_the_recalculation_due_that_day() -> None:
    after = effects.signal(Activity(), date(2026, 4, 1), "payment", D)
    assert after.next_recalc == D and after.activity.active_days == [D]
    assert effects.signal(Activity(), date(2026, 3, 1), "payment", D).next_recalc == date(
        2026, 3, 1)
