"""``creditcycle explain`` on example stories, against facts worked out by hand.

Each story runs through the real cycle into a SQLite file; the explanation is
read back from that file. The figures come from the example's description
and SPEC.md, not from the code under test. The standard loan: 120,000 fen at
1,800 bp over 3 months from 2026-01-15, installments 41,206 fen (principal
39,406 / 39,997 / 40,597, interest 1,800 / 1,209 / 609), penalty
round(principal x 2,700 bp / 10,000 / 360) = 30 fen a day per installment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from cli.main import main
from reports.explain import UnknownUser, explain
from store.engine import make_engine
from tests.support.paths import ROOT
from workers.scenario import load_file, run_scenario

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Engine, str]]:
    """Run an example once per module; returns its engine and database URL."""
    made: dict[str, tuple[Engine, str]] = {}

    def run(name: str) -> tuple[Engine, str]:
        if name not in made:
            url = f"sqlite:///{tmp_path_factory.mktemp(name)}/story.db"
            run_scenario(load_file(EXAMPLES / f"{name}.json"), database_url=url)
            made[name] = (make_engine(url), url)
        return made[name]

    yield run
    for engine, _ in made.values():
        engine.dispose()


def text(story: Callable[[str], tuple[Engine, str]], name: str, user: str = "u1",
         **kw: object) -> str:
    return explain(story(name)[0], user, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- never-pays
# Write-off at DPD 181 on 2026-08-14 (first due 02-15 is DPD 1). Still owed then:
# principal 120,000 + interest 1,800 + 1,209 + 609 = 3,618 (all due by 04-15) + penalty
# 30 fen for each overdue day of each installment: 181 (due 02-15) + 153 (due 03-15)
# + 122 (due 04-15) = 456 days = 13,680; total 137,298 fen = 1,372.98 yuan.
# At the handoff (DPD 91, 05-16): 120,000 + 3,618 + 30 x (91 + 63 + 32) = 129,198.

def test_never_pays_names_the_write_off_date_the_dpd_and_the_agency(story) -> None:
    out = text(story, "never-pays")
    assert "written off on 2026-08-14 at 181 days overdue" in out
    assert "after collection by Alpha Recovery" in out
    assert "Still owed: 1,372.98 yuan" in out
    assert "handed to the collection agency Alpha Recovery at 91 days overdue, owing " \
           "1,291.98 yuan" in out


def test_never_pays_says_the_closed_account_cannot_be_restored(story) -> None:
    out = text(story, "never-pays")
    assert "(account closed: no new loans)" in out
    assert "the limit stays at 0 for good" in out
    assert "this cannot be undone" in out
    assert "recorded as a recovery" in out


def test_never_pays_tells_each_score_step_with_its_reason(story) -> None:
    out = text(story, "never-pays")
    for line in ("2026-02-16               Credit score 600 → 550 (-50): loan L1 became overdue.",
                 "Credit score 550 → 520 (-30): loan L1 reached 31 days overdue (M2).",
                 "Credit score 520 → 490 (-30): loan L1 reached 61 days overdue (M3).",
                 "Credit score 490 → 450 (-40): loan L1 reached 91 days overdue (M3+).",
                 "Credit score 450 → 400 (-50): loan L1 was written off."):
        assert line in out


def test_never_pays_tells_the_limit_cuts_with_their_reasons(story) -> None:
    out = text(story, "never-pays")
    # 250,000 -> 50,000 (score 550: base 100,000 x 1/2 for no activity) -> 0 (score < 550)
    assert "Credit limit 2,500.00 yuan → 500.00 yuan: little payment activity in the last " \
           "90 days; a lower credit score." in out
    assert "Credit limit 500.00 yuan → 0.00 yuan" in out


def test_never_pays_tells_where_the_money_was_looked_for(story) -> None:
    out = text(story, "never-pays")
    assert "card debit attempts failed (insufficient funds)" in out
    assert "2026-02-15 … 2026-02-17  3 overdue reminders sent for loan L1." in out
    # 30 fen a day on each installment overdue: 456 installment-days from 02-15 (DPD 1,
    # held in grace and booked on 02-16) to 08-14, the write-off: 181 days.
    assert "2026-02-15 … 2026-08-14  Penalty interest on loan L1: 136.80 yuan over 181 " \
           "days." in out


def test_never_pays_in_chinese_has_the_same_facts_in_chinese_words(story) -> None:
    out = text(story, "never-pays", lang="zh")
    assert "于2026年8月14日在逾期181天时核销" in out
    assert "此前由Alpha Recovery催收" in out
    assert "仍欠1,372.98元" in out
    assert "账户已关闭" in out
    assert "信用分450 → 400（-50）：借款L1核销" in out
    assert "转交催收机构Alpha Recovery" in out
    assert "yuan" not in out


def test_the_second_borrower_of_never_pays_went_to_the_other_agency(story) -> None:
    out = text(story, "never-pays", user="u2")
    assert "after collection by Beta Collect" in out
    assert "Still owed: 900.00 yuan" in out


def test_since_keeps_what_happened_from_that_date_and_ranges_still_running(story) -> None:
    out = text(story, "never-pays", since=date(2026, 5, 1))
    assert "What happened since 2026-05-01" in out
    assert "Credit score 600 → 550" not in out
    assert "Credit score 490 → 450" in out
    assert "Penalty interest on loan L1" in out  # 02-15 … 08-14 runs past 05-01


def test_since_counts_only_what_happened_on_or_after_that_date(story) -> None:
    out = text(story, "never-pays", since=date(2026, 5, 1))
    # From 05-01 all three installments are overdue (the last due 04-15): 3 x 30 fen on
    # each of the 106 days 05-01 … 08-14, 9,540 fen.
    assert "2026-05-01 … 2026-08-14  Penalty interest on loan L1: 95.40 yuan over 106 days." \
        in out
    # More than 30 days late only the close-of-business attempt runs: one a day.
    assert "2026-05-01 … 2026-08-14  106 card debit attempts failed (insufficient funds)." \
        in out
    assert "2026-02-15" not in out.split("What happened since")[1]


# ---------------------------------------------------------------- penalty days
# 30 fen a day from DPD 1: the grace day 02-15 is held and booked on 02-16 with that day's.

def test_penalty_counts_every_day_charged_including_the_grace_day(story) -> None:
    # paid on 02-20: days late 1..5 on 02-15 … 02-19, 5 x 30 = 150 fen
    assert "2026-02-15 … 2026-02-19  Penalty interest on loan L1: 1.50 yuan over 5 days." \
        in text(story, "late-after-grace")
    # DPD 12 on 02-26: 12 x 30 = 360 fen, on hold or not
    for user, loan in (("u1", "L1"), ("u2", "L2")):
        assert f"2026-02-15 … 2026-02-26  Penalty interest on loan {loan}: 3.60 yuan over " \
               "12 days." in text(story, "collection-hold", user=user)
    # DPD 6 on 02-20: 6 x 30 = 180 fen
    out = text(story, "draw-refused-while-frozen")
    assert "2026-02-15 … 2026-02-20  Penalty interest on loan L1: 1.80 yuan over 6 days." in out
    assert "罚息1.80元，共6天" in text(story, "draw-refused-while-frozen", lang="zh")


# ---------------------------------------------------------------- frozen, and what unfreezes
# As of 2026-02-20 L1's first installment (41,206) is 6 days late (due 02-15): penalty
# 6 x 30 = 180 (the 02-15 day held in grace, booked on 02-16); 41,386 fen clears it.

def test_a_frozen_limit_names_the_overdue_loan_and_the_amount_that_unfreezes_it(story) -> None:
    out = text(story, "draw-refused-while-frozen")
    assert ("The limit is frozen because loan L1 is 6 days overdue; repaying 413.86 yuan "
            "unfreezes it at the next close (2026-02-21). Each further day adds about 0.30 "
            "yuan of penalty interest.") in out
    assert "the first limit recalculation after that halves the limit target once" in out


def test_refused_draws_say_why(story) -> None:
    out = text(story, "draw-refused-while-frozen")
    assert "A new loan L3 of 50,000.00 yuan was refused: the amount was above the " \
           "available limit." in out
    assert "A new loan L4 of 1,000.00 yuan was refused: new loans are frozen while a loan " \
           "is overdue." in out
    assert "Automatic deduction is switched off for the savings card." in out


def test_a_remedy_names_only_the_sources_automatic_deduction_may_use(story) -> None:
    """u1 switched card deduction off: money put on the card would not be taken."""
    remedies = text(story, "draw-refused-while-frozen").split("What would restore it")[1] \
        .split("What happened")[0]
    assert ("The money can be paid in as a repayment, or put in the wallet or the "
            "money-market fund before the next automatic deduction. Automatic deduction is "
            "switched off for the savings card: money put there is not taken unless it is "
            "switched back on.") in remedies
    zh = text(story, "draw-refused-while-frozen", lang="zh").split("如何恢复")[1].split("经过")[0]
    assert "把钱存入零钱或货币基金" in zh
    assert "储蓄卡未开通自动扣款" in zh


def test_a_remedy_with_every_source_switched_off_says_to_switch_one_back_on(tmp_path) -> None:
    data = load_file(EXAMPLES / "draw-refused-while-frozen.json")
    data["users"][0]["consent"] = {"wallet": False, "card": False, "fund": False}
    url = f"sqlite:///{tmp_path}/off.db"
    run_scenario(data, database_url=url)
    engine = make_engine(url)
    try:
        out = explain(engine, "u1")
    finally:
        engine.dispose()
    assert ("The money can be paid in as a repayment. Automatic deduction is switched off "
            "for the wallet, the savings card and the money-market fund, so money put there "
            "is not taken; switching it back on lets the next automatic deduction use it.") \
        in out
    assert "or put in" not in out


# ---------------------------------------------------------------- the bank's reason
def test_a_timed_out_debit_that_failed_gives_the_banks_reason_not_insufficient_funds(
        story) -> None:
    """card-timeout-failed: the card held 20,000 for a 30,000 debit; the bank failed it."""
    out = text(story, "card-timeout-failed")
    assert "2026-02-15  A card debit failed (bank outage)." in out
    assert "insufficient funds" not in out
    assert "银行卡扣款失败（银行系统故障）" in text(story, "card-timeout-failed", lang="zh")


def test_a_frozen_limit_in_chinese(story) -> None:
    out = text(story, "draw-refused-while-frozen", lang="zh")
    assert ("因借款L1已逾期6天，额度已冻结；还款413.86元后，将在下一次日终（2026年2月21日）"
            "解冻。") in out


def test_a_loan_within_grace_says_by_when_paying_avoids_any_consequence(tmp_path) -> None:
    """late-within-grace stopped on the due date: 41,206 unpaid, days late 1 (grace 1)."""
    data = load_file(EXAMPLES / "late-within-grace.json")
    data["events"], data["run"]["to"] = [], "2026-02-15"
    url = f"sqlite:///{tmp_path}/grace.db"
    run_scenario(data, database_url=url)
    engine = make_engine(url)
    try:
        out = explain(engine, "u1")
        out_zh = explain(engine, "u1", lang="zh")
    finally:
        engine.dispose()
    assert "Loan L1 is 1 day overdue (bucket M1): 412.06 yuan is past due" in out
    assert ("Loan L1 is 1 day late, within the 1-day grace period: paying 412.06 yuan by "
            "2026-02-16, before that day's automatic deduction, avoids any consequence.") in out
    assert "the score falls by 50 points" in out
    assert "frozen" not in out.split("What would restore it")[0]
    assert "仍在1天宽限期内：在2026年2月16日自动扣款前还款412.06元" in out_zh


# ---------------------------------------------------------------- every cause of a cut
def test_capacity_decline_and_when_it_lapses(story) -> None:
    out = text(story, "limit-cut-capacity-decline")
    assert "A job loss was reported." in out
    assert "Credit limit 25,000.00 yuan → 12,500.00 yuan: a report of reduced repayment " \
           "capacity" in out
    # reported 03-02; the 90-day window ends after 05-30
    assert "multiplies the limit by 0.5 until 2026-05-31 (90 days)" in out
    out2 = text(story, "limit-cut-capacity-decline", user="u2")
    assert "Housing provident fund contributions were reported stopped." in out2


def test_multi_borrowing_cut_and_its_lapse(story) -> None:
    out = text(story, "limit-cut-multi-borrowing")
    assert "Credit limit 25,000.00 yuan → 17,500.00 yuan: 3 or more loan applications at " \
           "other lenders within 30 days" in out
    # inquiries 03-01, 03-10, 03-20; the third-latest (03-01) leaves the window on 03-31
    assert "No longer in force: 3 or more loan applications at other lenders within 30 days " \
           "(lapsed on 2026-03-31)" in out
    # next recalculation: +20% of 1,750,000 = 2,100,000 fen
    assert "the limit will then be 21,000.00 yuan" in out


def test_flagged_contacts_do_not_lapse_by_themselves(story) -> None:
    out = text(story, "limit-cut-flagged-contacts")
    assert "Credit limit 25,000.00 yuan → 17,500.00 yuan: risk flags on the account's " \
           "contacts" in out
    assert "flagged contacts of this account 3 times, which multiplies the limit by 0.7; " \
           "this does not lapse by itself" in out


def test_identity_churn_and_when_it_lapses(story) -> None:
    out = text(story, "limit-cut-identity-churn")
    assert "Credit limit 25,000.00 yuan → 20,000.00 yuan: 2 or more phone number or bank " \
           "card changes within 90 days" in out
    # phone 03-02, card 03-10: the 2nd-latest (03-02) leaves the 90-day window on 05-31
    assert "without further changes this lifts on 2026-05-31" in out
    assert "phone number or bank card changes" not in text(
        story, "limit-cut-identity-churn", user="u2").split("What happened")[0]


def test_dormancy_and_what_ends_it(story) -> None:
    out = text(story, "limit-cut-dormant", user="u2")
    assert "2026-03-30  Credit limit 25,000.00 yuan → 20,000.00 yuan: no loan taken in the " \
           "last 180 days" in out
    assert "No loan has been taken out in the last 180 days (the last one on 2025-06-01)" in out
    assert "taking out a loan ends this" in out


def test_overdue_at_another_lender(story) -> None:
    out = text(story, "limit-cut-external-overdue")
    assert "Credit score 660 → 630 (-30): another lender reported an overdue debt." in out
    assert "Credit limit 10,000.00 yuan → 2,500.00 yuan:" in out and "a lower credit score" in out
    assert "Another lender reported an overdue debt on 2026-04-10 (-30 points); a further " \
           "report would count again from 2026-05-10." in out
    # 602 is in the 600-649 band (base 500,000); 650 gives 2,000,000
    assert "reaching 650 raises the base to 20,000.00 yuan" in out


def test_low_activity_says_how_many_active_days_restore_the_full_base(story) -> None:
    out = text(story, "on-time-payer")
    assert "0 active days in the last 90" in out
    assert "30 more active days bring it to 1" in out


def test_an_overdue_episode_halves_the_limit_once_cleared(story) -> None:
    out = text(story, "limit-cut-overdue-history")
    assert "Credit score 750 → 760 (+10): loan L1 was brought up to date." in out
    assert "Credit limit 50,000.00 yuan → 25,000.00 yuan:" in out
    assert "a recent overdue episode (the limit is halved once after it is cleared)" in out
    assert "Reported to the credit bureau: loan L1 brought up to date." in out


# ---------------------------------------------------------------- raises, and money
def test_raises_say_what_raised_them_and_when_the_next_is_possible(story) -> None:
    out = text(story, "limit-raised-by-activity")
    assert "Credit limit 25,800.00 yuan → 30,900.00 yuan: more payment activity." in out
    assert "2026-03-01  Credit limit 25,000.00 yuan → 25,800.00 yuan" in out
    assert "the next rise is possible from 2026-04-30" in out


def test_one_deduction_names_each_source_in_order(story) -> None:
    out = text(story, "waterfall")
    assert ("2026-02-15  412.06 yuan collected by automatic deduction for loan L1: 100.00 yuan "
            "from the wallet, 150.00 yuan from the savings card, 162.06 yuan from the "
            "money-market fund.") in out
    assert "Credit score 700 → 702 (+2): an installment of loan L1 was paid on its due " \
           "date." in out


def test_a_prepayment_is_split_into_interest_and_principal_and_the_rest_to_the_wallet(
        story) -> None:
    out = text(story, "prepayment-closes-loan")
    # 432 accrued interest, 80,594 principal, 18,974 left over
    assert ("2026-02-25  Repayment of 1,000.00 yuan received for loan L1: 4.32 yuan interest, "
            "805.94 yuan principal; 189.74 yuan left over went to the wallet.") in out
    assert "2026-02-25  Loan L1 is fully repaid." in out
    assert "A repayment naming loan L9 was refused: there is no such loan on this account." \
        in out


def test_every_user_of_every_example_gets_an_explanation_in_both_languages(story) -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        data = load_file(path)
        engine = story(path.stem)[0]
        for user in data["users"]:
            for lang in ("en", "zh"):
                out = explain(engine, user["id"], lang=lang)
                assert user["id"] in out.splitlines()[0]
                assert "{" not in out and "None" not in out, (path.stem, user["id"], lang)


# ---------------------------------------------------------------- the command
def test_the_command_prints_the_explanation_and_refuses_an_unknown_user(story) -> None:
    _, url = story("never-pays")
    runner = CliRunner()
    ok = runner.invoke(main, ["explain", "u1", "--lang", "zh", "--database-url", url])
    assert ok.exit_code == 0, ok.output
    assert "仍欠1,372.98元" in ok.output
    bad = runner.invoke(main, ["explain", "nobody", "--database-url", url])
    assert bad.exit_code == 2
    assert "USER: unknown user 'nobody'" in bad.output
    with pytest.raises(UnknownUser):
        explain(story("never-pays")[0], "nobody")
