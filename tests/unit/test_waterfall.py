"""The waterfall of one attempt for a batch of users (domain/waterfall.py): wallet,
card, fund; the guards on each; card blocking; the fund's daily cap."""

from __future__ import annotations

from datetime import date

from domain import waterfall
from domain.bank import DEBITED, FAILED, PENDING
from domain.waterfall import Attempt, CardAnswer, DebitUpdate

from .builders import inst, loan, user

D = date(2026, 3, 20)
NIGHT = Attempt(D, "cob", daytime=False, late_after_days=30)


def owing(uid: str, amount: int, due: date = date(2026, 3, 15), lid: str | None = None) -> list:
    lid = lid or f"L{uid}"
    return [loan(lid, [inst(lid, 1, due, amount)], user=uid)]


def test_the_wallet_pays_first_and_the_card_is_asked_for_the_rest() -> None:
    users = {"u1": user("u1", wallet=300)}
    loans = {"u1": owing("u1", 1000)}
    journals, intents = waterfall.wallet_and_card(users, loans, ["u1"], set(), NIGHT)
    assert [j.kind for j in journals] == ["deduct_wallet"] and users["u1"].wallet == 0
    assert [(i.user_id, i.amount, i.key, i.card_token) for i in intents] == [
        ("u1", 700, "deduct:u1:2026-03-20:cob:card", "tok-u1")]


def test_a_user_with_no_linked_card_gets_no_card_intent_and_the_fund_still_pays() -> None:
    users = {"u1": user("u1", wallet=300, fund=5000, card=False)}
    loans = {"u1": owing("u1", 1000)}
    journals, intents = waterfall.wallet_and_card(users, loans, ["u1"], set(), NIGHT)
    assert [j.kind for j in journals] == ["deduct_wallet"] and intents == []
    redemptions = waterfall.fund_redemptions(users, loans, ["u1"], {}, 1_000_000, NIGHT)
    assert [(j.kind, j.amount) for j in redemptions] == [("deduct_fund", 700)]


def test_a_wallet_without_consent_and_a_blocked_card_are_not_touched() -> None:
    u = user("u1", wallet=300)
    u.consent_wallet, u.card_blocked = False, True
    journals, intents = waterfall.wallet_and_card({"u1": u}, {"u1": owing("u1", 1000)},
                                                  ["u1"], set(), NIGHT)
    assert journals == [] and intents == [] and u.wallet == 300


def test_a_card_with_a_debit_still_unresolved_is_not_asked_again() -> None:
    _, intents = waterfall.wallet_and_card({"u1": user("u1")}, {"u1": owing("u1", 1000)},
                                           ["u1"], {"u1"}, NIGHT)
    assert intents == []


def test_a_daytime_attempt_leaves_out_a_loan_more_than_the_limit_late() -> None:
    late = owing("u1", 1000, due=date(2026, 1, 10))
    day = Attempt(D, "0600", daytime=True, late_after_days=30)
    _, intents = waterfall.wallet_and_card({"u1": user("u1")}, {"u1": late}, ["u1"], set(), day)
    assert intents == []
    _, intents = waterfall.wallet_and_card({"u1": user("u1")}, {"u1": late}, ["u1"], set(),
                                           NIGHT)
    assert [i.amount for i in intents] == [1000]


def test_money_the_card_gave_pays_the_debts_and_an_invalid_card_is_blocked() -> None:
    users = {"u1": user("u1"), "u2": user("u2"), "u3": user("u3")}
    loans = {u: owing(u, 1000) for u in users}
    answers = {"k1": CardAnswer(DEBITED, 1200), "k2": CardAnswer(FAILED, 0, "card_invalid"),
               "k3": CardAnswer(PENDING)}
    journals, updates = waterfall.card_answers(
        users, loans, [("k1", "u1"), ("k2", "u2"), ("k3", "u3")], answers, D)
    assert [j.key for j in journals] == ["k1"] and users["u1"].wallet == 200  # the excess
    assert users["u2"].card_blocked and not users["u1"].card_blocked
    assert updates == [DebitUpdate("k1", DEBITED, 1200, None, D),
                       DebitUpdate("k2", FAILED, 0, "card_invalid", D),
                       DebitUpdate("k3", PENDING, 0, None, None)]


def test_a_card_that_failed_for_want_of_money_stays_usable() -> None:
    u = user("u1")
    waterfall.card_answers({"u1": u}, {"u1": owing("u1", 10)}, [("k", "u1")],
                           {"k": CardAnswer(FAILED, 0, "insufficient_funds")}, D)
    assert not u.card_blocked


def test_the_fund_pays_at_most_what_its_daily_cap_leaves() -> None:
    users = {"u1": user("u1", fund=5000), "u2": user("u2", fund=5000)}
    loans = {u: owing(u, 4000) for u in users}
    journals = waterfall.fund_redemptions(users, loans, ["u1", "u2"], {"u1": 2500}, 3000, NIGHT)
    assert [(j.user_id, j.kind) for j in journals] == [("u1", "deduct_fund"),
                                                       ("u2", "deduct_fund")]
    assert users["u1"].fund == 4500 and users["u2"].fund == 2000


def test_a_fund_whose_cap_is_used_up_pays_nothing() -> None:
    users = {"u1": user("u1", fund=5000)}
    assert waterfall.fund_redemptions(users, {"u1": owing("u1", 100)}, ["u1"], {"u1": 3000},
                                      3000, NIGHT) == []
    assert waterfall.fund_room(3000, 3500) == 0 and waterfall.fund_room(3000, 1000) == 2000


def test_a_fund_pays_with_consent_and_money_only() -> None:
    u = user("u1", fund=10)
    assert waterfall.fund_may_pay(u)
    u.consent_fund = False
    assert not waterfall.fund_may_pay(u) and not waterfall.fund_may_pay(user("u2"))
