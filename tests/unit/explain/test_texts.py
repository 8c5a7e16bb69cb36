"""The words of domain.explain: every template in both languages, values rendered by type."""

from __future__ import annotations

import string
from datetime import date

import pytest

from domain.activity import Activity
from domain.config import LIMIT_MULTIPLIER_REASONS, SCORE_REASONS, ProductConfig
from domain.explain import (
    CODES,
    TEXT,
    Codes,
    Either,
    Frag,
    Ids,
    Loans,
    Parts,
    Yuan,
    lapses,
    multiplier_text,
    next_band,
    phrase,
)

LIMIT_CODES = (*LIMIT_MULTIPLIER_REASONS, "LOW_ACTIVITY", "SPENDING_UP", "SCORE_UP",
               "SCORE_DOWN", "OVERDUE_HISTORY", "ACCOUNT_CLOSED")
REFUSALS = ("OVERDUE_FREEZE", "LIMIT_EXCEEDED", "UNKNOWN_LOAN")


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_english_template_has_a_chinese_one_with_the_same_placeholders() -> None:
    assert set(TEXT["en"]) == set(TEXT["zh"])
    for kind, template in TEXT["en"].items():
        assert _fields(template) == _fields(TEXT["zh"][kind]), kind


def test_every_limit_reason_code_and_refusal_reads_in_plain_words_in_both_languages() -> None:
    for lang in ("en", "zh"):
        for code in (*LIMIT_CODES, *REFUSALS):
            assert code in CODES[lang], (lang, code)
            assert code not in CODES[lang][code]


def test_every_score_reason_has_a_reason_sentence_in_both_languages() -> None:
    for lang in ("en", "zh"):
        for reason in SCORE_REASONS:
            assert f"why_{reason}" in TEXT[lang]


def test_amounts_are_yuan_with_thousands_separators_and_two_decimals() -> None:
    assert phrase("per_day", {"amount": Yuan(110245)}, "en") == (
        " Each further day adds about 1,102.45 yuan of penalty interest.")
    assert "1,102.45元" in phrase("per_day", {"amount": Yuan(110245)}, "zh")


def test_dates_read_iso_in_english_and_year_month_day_in_chinese() -> None:
    values = {"day": date(2026, 3, 18), "projected": Yuan(2_500_000)}
    assert "2026-03-18" in phrase("next_recalc", values, "en")
    assert "2026年3月18日" in phrase("next_recalc", values, "zh")


def test_reason_codes_become_phrases_joined_in_order() -> None:
    text = phrase("limit", {"old": Yuan(250000), "new": Yuan(50000),
                            "why": Codes(("LOW_ACTIVITY", "SCORE_DOWN"))}, "en")
    assert text == ("Credit limit 2,500.00 yuan → 500.00 yuan: little payment activity in the "
                    "last 90 days; a lower credit score.")


def test_loans_take_their_noun_in_the_singular_and_plural() -> None:
    one = phrase("collected", {"total": Yuan(100), "loans": Loans(("L1",)),
                               "parts": Parts((("wallet", 100),))}, "en")
    two = phrase("collected", {"total": Yuan(100), "loans": Loans(("L1", "L2")),
                               "parts": Parts((("wallet", 60), ("card", 40)))}, "en")
    assert "for loan L1: 1.00 yuan from the wallet." in one
    assert "for loans L1 and L2: 0.60 yuan from the wallet, 0.40 yuan from the savings card" \
        in two
    assert "借款L1、L2" in phrase("collected", {"total": Yuan(100), "loans": Loans(("L1", "L2")),
                                             "parts": Parts(())}, "zh")


def test_sources_switched_off_are_named_not_coded() -> None:
    assert phrase("consent_off", {"sources": Ids(("src_card", "src_fund"))}, "en") == (
        "Automatic deduction is switched off for the savings card and the money-market fund.")


def test_sources_to_put_money_in_read_as_alternatives() -> None:
    assert phrase("fix_how_to_pay", {"sources": Either(("src_wallet", "src_card", "src_fund")),
                                     "off": None}, "en") == (
        "The money can be paid in as a repayment, or put in the wallet, the savings card or "
        "the money-market fund before the next automatic deduction.")
    assert "把钱存入零钱、储蓄卡或货币基金。" in phrase(
        "fix_how_to_pay", {"sources": Either(("src_wallet", "src_card", "src_fund")),
                           "off": None}, "zh")
    assert "put in the money-market fund before" in phrase(
        "fix_how_to_pay", {"sources": Either(("src_fund",)), "off": None}, "en")


def test_an_optional_clause_left_out_leaves_no_trace() -> None:
    base = {"loan": "L1", "dpd": 3, "amount": Yuan(30000), "next_close": date(2026, 2, 18)}
    without = phrase("fix_frozen_one", {**base, "per_day": None}, "en")
    with_it = phrase("fix_frozen_one", {**base, "per_day": Frag("per_day", {
        "amount": Yuan(30)})}, "en")
    assert without.endswith("at the next close (2026-02-18).")
    assert with_it.endswith("Each further day adds about 0.30 yuan of penalty interest.")


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        phrase("state", {}, "fr")


def test_multipliers_read_as_short_decimals() -> None:
    from fractions import Fraction

    assert [multiplier_text(x) for x in (Fraction(1, 2), Fraction(7, 10), Fraction(31, 60),
                                         Fraction(1), Fraction(3, 2))] == \
        ["0.5", "0.7", "0.52", "1", "1.5"]


def test_a_window_rule_lapses_when_its_threshold_th_latest_signal_leaves_the_window() -> None:
    # three inquiries on 03-01, 03-10, 03-20 (window 30 days): on 03-20 three count;
    # the 3rd-latest (03-01) leaves the window after 03-30, so it lapses on 03-31.
    a = Activity(inquiries=[date(2026, 3, 1), date(2026, 3, 10), date(2026, 3, 20)],
                 churn=[date(2026, 3, 2), date(2026, 3, 10)],
                 capacity_decline_on=date(2026, 3, 2), flagged_contacts=3)
    found = {x.code: x for x in lapses(a, date(2026, 3, 20))}
    assert found["MULTI_BORROWING"].until == date(2026, 3, 31)
    assert found["IDENTITY_CHURN"].until == date(2026, 5, 31)    # 03-02 + 90 days
    assert found["CAPACITY_DECLINE"].until == date(2026, 5, 31)  # 03-02 + 90 days
    assert found["FLAGGED_CONTACTS"].until is None                # a counter: no window


def test_the_next_score_band_is_the_next_higher_base() -> None:
    config = ProductConfig()
    assert next_band(540, config) == (550, 100_000)
    assert next_band(630, config) == (650, 2_000_000)
    assert next_band(800, config) is None
