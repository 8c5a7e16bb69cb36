"""The example stories of examples/*.json, checked against figures worked out by hand.

Every expected number below comes from SPEC.md and docs/DECISIONS.md, written
as the arithmetic that produces it; nothing is computed by the code under test.
The standard loan of most stories is 120,000 fen at 1,800 bp over 3 months,
disbursed 2026-01-15 (due 02-15, 03-15, 04-15):

    r = 1800 / 10000 / 12 = 3/200 (1.5% a month)
    A = round(120000 * r / (1 - (1 + r)^-3)) = round(41206.05...) = 41206
    k=1: interest round(120000 * r) = 1800, principal 41206 - 1800 = 39406
    k=2: interest round( 80594 * r) = 1209, principal 41206 - 1209 = 39997
    k=3: interest round( 40597 * r) =  609, principal = the rest    = 40597
    total interest 1800 + 1209 + 609 = 3618

Penalty per day on an unpaid installment: the annual penalty rate is
min(1800 * 1.5, 3600) = 2700 bp, so round(principal * 2700 / 10000 / 360):
39406 -> round(29.55) = 30, 39997 -> round(29.998) = 30, 40597 -> round(30.45) = 30.
"""

from __future__ import annotations

import functools
import json
import math
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import pytest

from tests.support.paths import ROOT
from workers.scenario import run_scenario

EXAMPLES = ROOT / "examples"
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))

# The standard loan, by hand (see the module docstring).
STD_A = 41206
STD_INSTALLMENTS = [(39406, 1800), (39997, 1209), (40597, 609)]  # (principal, interest)
STD_INTEREST = 1800 + 1209 + 609  # 3618
STD_PENALTY_PER_DAY = 30


# ---------------------------------------------------------------- hand arithmetic


def half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def annuity_schedule(principal: int, rate_bp: int, n: int) -> list[tuple[int, int]]:
    """SPEC section 1 by hand: [(principal_k, interest_k)], exact fractions."""
    r = Fraction(rate_bp, 10000 * 12)
    if rate_bp == 0:
        even = principal // n
        return [(even, 0)] * (n - 1) + [(principal - even * (n - 1), 0)]
    payment = half_up(principal * r / (1 - (1 + r) ** -n))
    remaining, rows = principal, []
    for k in range(n):
        interest = half_up(remaining * r)
        part = payment - interest if k < n - 1 else remaining
        rows.append((part, interest))
        remaining -= part
    return rows


def penalty_per_day(unpaid_principal: int, rate_bp: int) -> int:
    annual_bp = min(Fraction(rate_bp * 3, 2), 3600)
    return half_up(unpaid_principal * annual_bp / 10000 / 360)


# ---------------------------------------------------------------- running stories


@functools.cache
def run_example(name: str) -> dict[str, Any]:
    """Runs examples/NAME.json once per session; callers must not mutate the result."""
    data = json.loads((EXAMPLES / f"{name}.json").read_text())
    return run_scenario(data)


def score_events(result: dict[str, Any], user: str) -> list[tuple[str, str, int, int]]:
    return [
        (e["date"], e["reason"], e["old"], e["new"])
        for e in result["score_events"]
        if e["user"] == user
    ]


def limit_events(result: dict[str, Any], user: str) -> list[tuple[str, int, int]]:
    return [(e["date"], e["old"], e["new"]) for e in result["limit_events"] if e["user"] == user]


def only_limit_event(result: dict[str, Any], user: str) -> dict[str, Any]:
    events = [e for e in result["limit_events"] if e["user"] == user]
    assert len(events) == 1, events
    event = events[0]
    assert event["reason"] == event["reasons"][0]
    return event


def notification_dates(result: dict[str, Any], loan: str, kind: str) -> list[str]:
    return [n["date"] for n in result["notifications"] if n["loan"] == loan and n["kind"] == kind]


def bureau_events(result: dict[str, Any], loan: str) -> list[tuple[str, str]]:
    """Bureau records of a loan other than the monthly file."""
    return [
        (b["date"], b["kind"])
        for b in result["bureau_records"]
        if b["loan"] == loan and b["kind"] != "MONTHLY"
    ]


def refusals(result: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    return [(r["date"], r["kind"], r["user"], r["loan"], r["reason"]) for r in result["refused"]]


def money(principal: int, interest: int, penalty: int) -> dict[str, int]:
    return {"principal": principal, "interest": interest, "penalty": penalty}


def balances(result: dict[str, Any], user: str) -> tuple[int, int, int]:
    u = result["users"][user]
    return u["wallet"], u["card"], u["fund"]


# ---------------------------------------------------------------- the hand arithmetic itself


def test_the_standard_loan_schedule_worked_by_hand_matches_the_spec_formula() -> None:
    assert annuity_schedule(120000, 1800, 3) == STD_INSTALLMENTS
    assert STD_INSTALLMENTS[0][0] + STD_INSTALLMENTS[0][1] == STD_A
    assert STD_INSTALLMENTS[2][0] + STD_INSTALLMENTS[2][1] == STD_A  # last one happens to equal A
    assert sum(p for p, _ in STD_INSTALLMENTS) == 120000
    assert {penalty_per_day(p, 1800) for p, _ in STD_INSTALLMENTS} == {STD_PENALTY_PER_DAY}
    # 0% loans split evenly, the remainder to the last installment
    assert annuity_schedule(100000, 0, 3) == [(33333, 0), (33333, 0), (33334, 0)]


# ---------------------------------------------------------------- every example


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_explains_itself_and_runs_with_a_balanced_ledger(name: str) -> None:
    data = json.loads((EXAMPLES / f"{name}.json").read_text())
    assert isinstance(data["description"], str)
    assert len(data["description"]) > 80
    result = run_example(name)
    assert result["ledger_balanced"] is True
    for key in ("users", "loans"):
        assert isinstance(result[key], dict)
    for key in (
        "score_events",
        "limit_events",
        "notifications",
        "bureau_records",
        "handoffs",
        "journals",
        "refused",
    ):
        assert isinstance(result[key], list)
        dates = [item["date"] for item in result[key]]
        assert dates == sorted(dates), f"{key} is not ordered by date"


def test_the_required_examples_exist() -> None:
    required = {
        "on-time-payer",
        "waterfall",
        "fund-redemption-cap",
        "late-within-grace",
        "late-after-grace",
        "never-pays",
        "prepayment-partial",
        "prepayment-closes-loan",
        "draw-refused-while-frozen",
        "limit-raised-by-activity",
        "limit-cut-capacity-decline",
        "limit-cut-multi-borrowing",
        "limit-cut-flagged-contacts",
        "limit-cut-identity-churn",
        "limit-cut-dormant",
        "limit-cut-external-overdue",
        "limit-cut-overdue-history",
        "card-timeout-debited",
        "card-timeout-failed",
        "collection-hold",
        "fund-consent-withdrawn",
    }
    assert required <= set(EXAMPLE_NAMES)


# ---------------------------------------------------------------- on-time payer


def test_on_time_payer_pays_every_installment_from_the_wallet_then_the_card() -> None:
    result = run_example("on-time-payer")
    # 02-15: wallet 50000 pays 41206 -> 8794 left
    # 03-15: wallet 8794 + card 41206 - 8794 = 32412 -> card 67588
    # 04-15: card 41206 -> 67588 - 41206 = 26382
    assert balances(result, "u1") == (0, 100000 - (3 * STD_A - 50000), 0)
    assert 100000 - (3 * STD_A - 50000) == 26382
    loan = result["loans"]["L1"]
    assert loan["status"] == "paid_off"
    assert (loan["dpd"], loan["bucket"]) == (0, "C")
    assert loan["outstanding"] == money(0, 0, 0)
    assert loan["paid"] == money(120000, STD_INTEREST, 0)
    assert loan["collection_stage"] == "none"
    assert loan["agency"] is None


def test_on_time_payer_earns_two_points_on_each_due_date() -> None:
    result = run_example("on-time-payer")
    assert score_events(result, "u1") == [
        ("2026-02-15", "ON_TIME_REPAYMENT", 700, 702),
        ("2026-03-15", "ON_TIME_REPAYMENT", 702, 704),
        ("2026-04-15", "ON_TIME_REPAYMENT", 704, 706),
    ]
    assert result["users"]["u1"]["score"] == 706
    assert [e["loan"] for e in result["score_events"]] == ["L1", "L1", "L1"]


def test_on_time_payer_is_reminded_three_days_before_each_due_date_and_never_chased() -> None:
    result = run_example("on-time-payer")
    assert notification_dates(result, "L1", "due_soon") == [
        "2026-02-12",
        "2026-03-12",
        "2026-04-12",
    ]
    assert notification_dates(result, "L1", "overdue_reminder") == []
    assert bureau_events(result, "L1") == []
    assert result["handoffs"] == []
    assert result["refused"] == []


def test_on_time_payer_keeps_a_limit_that_already_equals_its_target() -> None:
    # score 700..706 -> base 5,000,000; no activity -> m_activity 1/2; loan disbursed
    # 2026-01-15 is recent (no DORMANT): target 2,500,000 = the limit, never an event.
    result = run_example("on-time-payer")
    assert result["limit_events"] == []
    user = result["users"]["u1"]
    assert (user["limit"], user["limit_frozen"], user["closed"]) == (5000000 // 2, False, False)


# ---------------------------------------------------------------- waterfall


def test_one_installment_is_paid_by_wallet_then_card_then_fund() -> None:
    result = run_example("waterfall")
    # 41206 owed: wallet 10000, card 15000, fund 41206 - 10000 - 15000 = 16206
    assert balances(result, "u1") == (0, 0, 100000 - (STD_A - 10000 - 15000))
    assert 100000 - (STD_A - 10000 - 15000) == 83794
    loan = result["loans"]["L1"]
    assert loan["status"] == "active"
    assert (loan["dpd"], loan["bucket"]) == (0, "C")
    assert loan["paid"] == money(39406, 1800, 0)
    # not yet due but scheduled: principal 120000 - 39406, interest 1209 + 609
    assert loan["outstanding"] == money(120000 - 39406, 1209 + 609, 0)
    assert score_events(result, "u1") == [("2026-02-15", "ON_TIME_REPAYMENT", 700, 702)]


# ---------------------------------------------------------------- fund redemption cap


def test_fund_cap_spreads_collection_over_three_days_and_the_loan_goes_overdue_meanwhile() -> None:
    result = run_example("fund-redemption-cap")
    # 180000 at 0% over 3 months: 60000 per installment; 20000 a day from the fund
    assert annuity_schedule(180000, 0, 3) == [(60000, 0)] * 3
    assert balances(result, "u1") == (0, 0, 100000 - 3 * 20000)
    loan = result["loans"]["L1"]
    assert loan["status"] == "active"
    assert (loan["dpd"], loan["bucket"]) == (0, "C")
    assert loan["paid"] == money(60000, 0, 0)
    assert loan["outstanding"] == money(180000 - 60000, 0, 0)
    assert loan["collection_stage"] == "none"  # cleared at DPD 3, before DPD 4
    assert result["users"]["u1"]["limit_frozen"] is False


def test_fund_cap_story_scores_overdue_past_grace_and_then_cleared() -> None:
    result = run_example("fund-redemption-cap")
    # 02-15 DPD 1 (grace), 02-16 DPD 2 > grace_days 1 -> overdue, 02-17 cleared
    assert score_events(result, "u1") == [
        ("2026-02-16", "OVERDUE_STARTED", 700, 700 - 50),
        ("2026-02-17", "OVERDUE_CLEARED", 650, 650 + 10),
    ]
    assert bureau_events(result, "L1") == [("2026-02-16", "OVERDUE"), ("2026-02-17", "CLEARED")]
    assert notification_dates(result, "L1", "overdue_reminder") == ["2026-02-15", "2026-02-16"]


# ---------------------------------------------------------------- grace


def test_paying_the_day_after_the_due_date_drops_the_penalty_and_starts_no_overdue() -> None:
    result = run_example("late-within-grace")
    # top-up 50000 on 02-16 pays exactly the installment (41206), no penalty
    assert balances(result, "u1") == (50000 - STD_A, 0, 0)
    loan = result["loans"]["L1"]
    assert loan["status"] == "active"
    assert (loan["dpd"], loan["bucket"]) == (0, "C")
    assert loan["paid"] == money(39406, 1800, 0)
    assert loan["outstanding"] == money(120000 - 39406, 1209 + 609, 0)
    assert loan["collection_stage"] == "none"
    # no OVERDUE_STARTED, and not on time either
    assert score_events(result, "u1") == []
    assert result["users"]["u1"]["score"] == 700
    assert bureau_events(result, "L1") == []
    assert result["users"]["u1"]["limit_frozen"] is False


def test_an_installment_unpaid_on_its_due_date_gets_a_dpd_1_reminder_even_within_grace() -> None:
    result = run_example("late-within-grace")
    assert notification_dates(result, "L1", "overdue_reminder") == ["2026-02-15"]


def test_paying_five_days_late_books_a_penalty_for_each_late_day() -> None:
    result = run_example("late-after-grace")
    # days late 1..5 = 02-15..02-19, 30 fen each; 02-15's is booked with 02-16's
    penalty = 5 * penalty_per_day(39406, 1800)
    assert penalty == 150
    assert balances(result, "u1") == (50000 - STD_A - penalty, 0, 0)
    assert 50000 - STD_A - penalty == 8644
    loan = result["loans"]["L1"]
    assert loan["status"] == "active"
    assert (loan["dpd"], loan["bucket"]) == (0, "C")
    assert loan["paid"] == money(39406, 1800, 150)
    assert loan["outstanding"] == money(120000 - 39406, 1209 + 609, 0)


def test_paying_five_days_late_starts_and_clears_an_overdue_episode() -> None:
    result = run_example("late-after-grace")
    assert score_events(result, "u1") == [
        ("2026-02-16", "OVERDUE_STARTED", 700, 650),
        ("2026-02-20", "OVERDUE_CLEARED", 650, 660),
    ]
    assert bureau_events(result, "L1") == [("2026-02-16", "OVERDUE"), ("2026-02-20", "CLEARED")]
    overdue = next(b for b in result["bureau_records"] if b["kind"] == "OVERDUE")
    assert (overdue["status"], overdue["dpd"]) == ("overdue", 2)
    assert result["users"]["u1"]["limit_frozen"] is False


def test_paying_five_days_late_was_reminded_on_dpd_1_to_3_and_had_an_internal_case() -> None:
    result = run_example("late-after-grace")
    assert notification_dates(result, "L1", "overdue_reminder") == [
        "2026-02-15",
        "2026-02-16",
        "2026-02-17",
    ]
    loan = result["loans"]["L1"]
    # internal case opened at DPD 4 (02-18), closed when cleared on 02-20
    assert loan["collection_stage"] == "closed"
    assert result["handoffs"] == []


# ---------------------------------------------------------------- never pays

# First due date 2026-02-15 is DPD 1; DPD n falls on 02-15 + (n - 1) days.
DPD_2, DPD_4, DPD_31, DPD_61, DPD_91, DPD_181 = (
    "2026-02-16",
    "2026-02-18",
    "2026-03-17",
    "2026-04-16",
    "2026-05-16",
    "2026-08-14",
)


def test_the_dpd_calendar_of_the_never_paying_story_is_right() -> None:
    due = date(2026, 2, 15)
    assert [str(due + timedelta(days=n - 1)) for n in (2, 4, 31, 61, 91, 181)] == [
        DPD_2,
        DPD_4,
        DPD_31,
        DPD_61,
        DPD_91,
        DPD_181,
    ]


def test_never_paying_borrower_loses_score_at_each_stage() -> None:
    result = run_example("never-pays")
    expected = [
        (DPD_2, "OVERDUE_STARTED", 600, 550),
        (DPD_31, "BUCKET_M2", 550, 520),
        (DPD_61, "BUCKET_M3", 520, 490),
        (DPD_91, "BUCKET_M3_PLUS", 490, 450),
        (DPD_181, "WRITTEN_OFF", 450, 400),
    ]
    assert score_events(result, "u1") == expected
    assert score_events(result, "u2") == expected
    assert result["users"]["u1"]["score"] == 400


def test_never_paying_borrower_is_reminded_and_then_put_to_an_internal_case() -> None:
    result = run_example("never-pays")
    for loan in ("L1", "L2"):
        assert notification_dates(result, loan, "overdue_reminder") == [
            "2026-02-15",
            "2026-02-16",
            "2026-02-17",
        ]
        assert notification_dates(result, loan, "due_soon")[0] == "2026-02-12"
    reminder = next(n for n in result["notifications"] if n["kind"] == "overdue_reminder")
    # SPEC 6: the close of D runs after D has ended, so a reminder dated D is sent on D+1
    # inside the window 08:00-21:00 of the deployment's zone (Asia/Shanghai, +08:00).
    assert reminder["date"] == "2026-02-15"
    assert reminder["send_from"] == "2026-02-16T08:00:00+08:00"
    assert reminder["send_until"] == "2026-02-16T21:00:00+08:00"


def test_never_paying_borrower_is_handed_to_an_agency_at_dpd_91() -> None:
    result = run_example("never-pays")
    handoffs = sorted(result["handoffs"], key=lambda h: h["loan"])
    assert [(h["date"], h["loan"], h["dpd"], h["kind"]) for h in handoffs] == [
        (DPD_91, "L1", 91, "agency_handoff"),
        (DPD_91, "L2", 91, "agency_handoff"),
    ]
    # same day, loan id order, fewest open cases, ties by name
    assert [h["agency"] for h in handoffs] == ["Alpha Recovery", "Beta Collect"]
    # L1 on 05-16: all principal and interest due, penalty 30 fen a day per installment
    # for 02-15..05-16 (91 days), 03-15..05-16 (63), 04-15..05-16 (32)
    assert handoffs[0]["amount_owed"] == 120000 + STD_INTEREST + 30 * (91 + 63 + 32)
    assert handoffs[0]["amount_owed"] == 129198
    assert handoffs[1]["amount_owed"] == 90000  # interest-free, penalty 0


def test_agency_handoff_carries_only_masked_contact_data() -> None:
    result = run_example("never-pays")
    by_loan = {h["loan"]: h for h in result["handoffs"]}
    assert (by_loan["L1"]["masked_name"], by_loan["L1"]["masked_phone"]) == ("Z*", "138******00")
    assert (by_loan["L2"]["masked_name"], by_loan["L2"]["masked_phone"]) == ("L*", "139******78")
    for handoff in by_loan.values():
        assert isinstance(handoff["contact_token"], str)
        assert handoff["contact_token"]
    assert by_loan["L1"]["contact_token"] != by_loan["L2"]["contact_token"]
    text = json.dumps(result, ensure_ascii=False)
    for secret in ("13800000000", "13912345678", "Zhang San", "Li Si", "1990-05-01"):
        assert secret not in text


def test_never_paying_borrower_is_written_off_at_dpd_181_and_closed() -> None:
    result = run_example("never-pays")
    loan = result["loans"]["L1"]
    assert loan["status"] == "written_off"
    assert (loan["dpd"], loan["bucket"]) == (181, "M3+")  # frozen on the write-off day
    assert loan["collection_stage"] == "written_off"
    # penalty through the write-off day, none after: 181 + 153 + 122 days of 30 fen
    assert loan["outstanding"] == money(120000, STD_INTEREST, 30 * (181 + 153 + 122))
    assert 30 * (181 + 153 + 122) == 13680
    assert loan["paid"] == money(0, 0, 0)
    l2 = result["loans"]["L2"]
    assert (l2["status"], l2["dpd"], l2["outstanding"]) == ("written_off", 181, money(90000, 0, 0))
    for user in ("u1", "u2"):
        assert result["users"][user]["closed"] is True
        assert result["users"][user]["limit"] == 0
        assert balances(result, user) == (0, 0, 0)


def test_never_paying_borrower_is_reported_to_the_bureau_at_each_milestone() -> None:
    result = run_example("never-pays")
    assert bureau_events(result, "L1") == [
        (DPD_2, "OVERDUE"),
        (DPD_91, "M3_PLUS"),
        (DPD_181, "WRITTEN_OFF"),
    ]
    written_off = next(
        b for b in result["bureau_records"] if b["kind"] == "WRITTEN_OFF" and b["loan"] == "L1"
    )
    assert (written_off["status"], written_off["dpd"]) == ("written_off", 181)
    monthly = [b for b in result["bureau_records"] if b["kind"] == "MONTHLY" and b["loan"] == "L1"]
    assert [b["date"] for b in monthly] == [
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
        "2026-06-30",
        "2026-07-31",
        "2026-08-31",
    ]
    assert monthly[0]["status"] == "overdue"
    assert monthly[0]["dpd"] == 14  # 02-28 - 02-15 + 1
    assert monthly[-1]["status"] == "written_off"


def test_never_paying_borrower_limit_falls_with_the_score() -> None:
    result = run_example("never-pays")
    # 02-16: score 550 -> base 100,000 x 1/2 = 50,000; 03-17: score 520 < 550 -> base 0
    expected = [(DPD_2, 250000, 100000 // 2), (DPD_31, 50000, 0)]
    assert limit_events(result, "u1") == expected
    assert limit_events(result, "u2") == expected
    for event in result["limit_events"]:
        assert "SCORE_DOWN" in event["reasons"]


# ---------------------------------------------------------------- prepayment


def test_partial_prepayment_on_a_due_date_re_amortises_the_rest() -> None:
    result = run_example("prepayment-partial")
    # 02-15, 60000 from outside: installment 1 (41206), no interest accrued yet in the
    # new period (0 days), principal 60000 - 41206 = 18794.
    new_principal = 120000 - 39406 - (60000 - STD_A)
    assert new_principal == 61800
    rest = annuity_schedule(new_principal, 1800, 2)
    assert rest == [(30670, 927), (31130, 467)]  # payment round(61800*r/(1-(1+r)^-2)) = 31597
    assert rest[0][0] + rest[0][1] == rest[1][0] + rest[1][1] == 31597
    loan = result["loans"]["L1"]
    assert loan["status"] == "paid_off"
    assert loan["outstanding"] == money(0, 0, 0)
    assert loan["paid"] == money(120000, 1800 + 927 + 467, 0)
    assert balances(result, "u1") == (0, 70000 - 2 * 31597, 0)
    assert score_events(result, "u1") == [
        ("2026-02-15", "ON_TIME_REPAYMENT", 700, 702),
        ("2026-03-15", "ON_TIME_REPAYMENT", 702, 704),
        ("2026-04-15", "ON_TIME_REPAYMENT", 704, 706),
    ]


def test_partial_prepayment_of_an_interest_free_loan_splits_the_rest_evenly() -> None:
    result = run_example("prepayment-partial")
    # 120000 - 30000 = 90000 over 3 installments: 30000 each, two paid from the card
    assert annuity_schedule(120000 - 30000, 0, 3) == [(30000, 0)] * 3
    loan = result["loans"]["L2"]
    assert loan["status"] == "active"
    assert (loan["dpd"], loan["bucket"]) == (0, "C")
    assert loan["paid"] == money(30000 + 2 * 30000, 0, 0)
    assert loan["outstanding"] == money(30000, 0, 0)
    assert balances(result, "u2") == (0, 60000 - 2 * 30000, 0)
    assert [r for _, r, _, _ in score_events(result, "u2")] == ["ON_TIME_REPAYMENT"] * 2


def test_prepayment_of_everything_closes_the_loan_and_the_excess_goes_to_the_wallet() -> None:
    result = run_example("prepayment-closes-loan")
    r = Fraction(1800, 10000 * 12)
    remaining = 120000 - 39406  # 80594 after installment 1 was collected on 02-15
    # period 02-15 -> 03-15 has 28 days; 02-16..02-25 are 10 days at 80594
    accrued = half_up(r * 10 * remaining / 28)
    assert accrued == 432
    assert 100000 - accrued - remaining == 18974
    loan = result["loans"]["L1"]
    assert loan["status"] == "paid_off"
    assert (loan["dpd"], loan["bucket"]) == (0, "C")
    assert loan["outstanding"] == money(0, 0, 0)
    assert loan["paid"] == money(120000, 1800 + accrued, 0)
    assert balances(result, "u1") == (100000 - accrued - remaining, 50000 - STD_A, 0)
    assert score_events(result, "u1") == [("2026-02-15", "ON_TIME_REPAYMENT", 700, 702)]


def test_prepayment_without_a_loan_pays_all_loans_in_id_order() -> None:
    result = run_example("prepayment-closes-loan")
    # L2: 60000 / 3 = 20000 collected on 02-15 from the card, 40000 left;
    # L3: 30000, nothing due before 03-01; both paid on 02-20, 100000 - 70000 to the wallet
    for lid, principal in (("L2", 60000), ("L3", 30000)):
        loan = result["loans"][lid]
        assert loan["status"] == "paid_off"
        assert loan["outstanding"] == money(0, 0, 0)
        assert loan["paid"] == money(principal, 0, 0)
    assert balances(result, "u2") == (100000 - 40000 - 30000, 20000 - 20000, 0)


def test_prepayment_naming_an_unknown_loan_is_refused() -> None:
    result = run_example("prepayment-closes-loan")
    assert refusals(result) == [
        ("2026-02-26", "repay", "u1", "L9", "UNKNOWN_LOAN"),
    ]
    assert "L9" not in result["loans"]


# ---------------------------------------------------------------- draws


def test_draws_are_refused_over_the_limit_and_while_frozen() -> None:
    result = run_example("draw-refused-while-frozen")
    # 02-01: available 5,000,000 - 120,000; L2 (100,000) fits, then 4,780,000 < 5,000,000
    assert 5000000 - 120000 - 100000 == 4780000
    assert refusals(result) == [
        ("2026-02-01", "draw", "u1", "L3", "LIMIT_EXCEEDED"),
        ("2026-02-17", "draw", "u1", "L4", "OVERDUE_FREEZE"),
    ]
    assert set(result["loans"]) == {"L1", "L2"}


def test_an_accepted_draw_is_disbursed_to_the_card() -> None:
    result = run_example("draw-refused-while-frozen")
    l2 = result["loans"]["L2"]
    assert l2["status"] == "active"
    assert l2["outstanding"] == money(100000, 0, 0)
    assert l2["paid"] == money(0, 0, 0)
    # card consent is off, so the disbursed money is still there
    assert balances(result, "u1") == (0, 100000, 0)


def test_the_overdue_borrower_is_frozen_and_the_limit_cut_at_once() -> None:
    result = run_example("draw-refused-while-frozen")
    user = result["users"]["u1"]
    assert user["limit_frozen"] is True
    assert user["score"] == 760 - 50
    # 02-16: score 710 -> base 5,000,000 (was 10,000,000) x 1/2 = 2,500,000
    assert limit_events(result, "u1") == [("2026-02-16", 5000000, 2500000)]
    assert "SCORE_DOWN" in only_limit_event(result, "u1")["reasons"]
    l1 = result["loans"]["L1"]
    assert (l1["status"], l1["dpd"], l1["bucket"]) == ("overdue", 6, "M1")  # 02-20 - 02-15 + 1
    assert l1["outstanding"] == money(120000, STD_INTEREST, 6 * 30)


# ---------------------------------------------------------------- limits


def test_daily_activity_raises_the_limit_at_most_once_per_30_days() -> None:
    result = run_example("limit-raised-by-activity")
    base = 5000000  # score 700 (702 after 03-20)
    # 03-01: 1 active day, target base * (1/2 + 1/60) = 2,583,333.33 -> 2,580,000
    first = math.floor(Fraction(base) * (Fraction(1, 2) + Fraction(1, 60)) / 10000) * 10000
    assert first == 2580000
    # 03-31: 31 active days, target base * 61/60 = 5,083,333; capped at old * 1.2 = 3,096,000
    capped = min(Fraction(base) * (Fraction(1, 2) + Fraction(31, 60)), first + first // 5)
    second = math.floor(capped / 10000) * 10000
    assert second == 3090000
    assert limit_events(result, "u1") == [
        ("2026-03-01", 2500000, first),
        ("2026-03-31", first, second),
    ]
    assert result["limit_events"][-1]["reasons"] == ["SPENDING_UP"]
    assert result["users"]["u1"]["limit"] == 3090000


@pytest.mark.parametrize(("user", "date"), [("u1", "2026-03-02"), ("u2", "2026-03-03")])
def test_job_loss_or_stopped_provident_fund_halves_the_limit(user: str, date: str) -> None:
    result = run_example("limit-cut-capacity-decline")
    # 5,000,000 * 1/2 (no activity) * 1/2 (CAPACITY_DECLINE)
    assert limit_events(result, user) == [(date, 2500000, 5000000 // 4)]
    event = only_limit_event(result, user)
    assert "CAPACITY_DECLINE" in event["reasons"]
    assert set(event["reasons"]) <= {"CAPACITY_DECLINE", "LOW_ACTIVITY"}


def test_three_loan_inquiries_within_30_days_cut_the_limit_by_30_percent() -> None:
    result = run_example("limit-cut-multi-borrowing")
    assert limit_events(result, "u1") == [("2026-03-20", 2500000, 2500000 * 7 // 10)]
    event = only_limit_event(result, "u1")
    assert "MULTI_BORROWING" in event["reasons"]
    assert set(event["reasons"]) <= {"MULTI_BORROWING", "LOW_ACTIVITY"}


def test_loan_inquiries_spread_over_more_than_30_days_do_not_cut_the_limit() -> None:
    result = run_example("limit-cut-multi-borrowing")
    assert limit_events(result, "u2") == []
    assert result["users"]["u2"]["limit"] == 2500000


def test_three_flagged_contacts_cut_the_limit_by_30_percent() -> None:
    result = run_example("limit-cut-flagged-contacts")
    assert limit_events(result, "u1") == [("2026-03-04", 2500000, 1750000)]
    event = only_limit_event(result, "u1")
    assert "FLAGGED_CONTACTS" in event["reasons"]
    assert set(event["reasons"]) <= {"FLAGGED_CONTACTS", "LOW_ACTIVITY"}


def test_a_phone_change_and_a_card_change_within_90_days_cut_the_limit_by_20_percent() -> None:
    result = run_example("limit-cut-identity-churn")
    assert limit_events(result, "u1") == [("2026-03-10", 2500000, 2500000 * 4 // 5)]
    event = only_limit_event(result, "u1")
    assert "IDENTITY_CHURN" in event["reasons"]
    assert set(event["reasons"]) <= {"IDENTITY_CHURN", "LOW_ACTIVITY"}
    assert limit_events(result, "u2") == []


@pytest.mark.parametrize("user", ["u1", "u2"])
def test_a_limit_unused_for_180_days_is_cut_on_the_periodic_recalculation(user: str) -> None:
    result = run_example("limit-cut-dormant")
    # last recalculation 02-28 (day before the run); 30 days later is 03-30
    assert limit_events(result, user) == [("2026-03-30", 2500000, 2500000 * 4 // 5)]
    event = only_limit_event(result, user)
    assert "DORMANT" in event["reasons"]
    assert set(event["reasons"]) <= {"DORMANT", "LOW_ACTIVITY"}


def test_a_recent_borrower_is_not_dormant() -> None:
    result = run_example("limit-cut-dormant")
    assert limit_events(result, "u3") == []
    assert result["users"]["u3"]["limit"] == 2500000


def test_external_overdue_costs_30_points_at_most_once_per_30_days() -> None:
    result = run_example("limit-cut-external-overdue")
    events = result["score_events"]
    assert [(e["date"], e["reason"], e["loan"], e["old"], e["new"]) for e in events] == [
        ("2026-03-02", "EXTERNAL_OVERDUE", None, 660, 630),
        ("2026-03-26", "ON_TIME_REPAYMENT", "L1", 630, 632),
        ("2026-04-10", "EXTERNAL_OVERDUE", None, 632, 602),
    ]
    assert result["users"]["u1"]["score"] == 602


def test_external_overdue_that_drops_the_score_band_cuts_the_limit() -> None:
    result = run_example("limit-cut-external-overdue")
    # 630 -> base 500,000 (was 2,000,000 at 660) x 1/2 = 250,000; later 602 keeps the band
    assert limit_events(result, "u1") == [("2026-03-02", 1000000, 500000 // 2)]
    event = only_limit_event(result, "u1")
    assert "SCORE_DOWN" in event["reasons"]
    assert set(event["reasons"]) <= {"SCORE_DOWN", "LOW_ACTIVITY"}


def test_the_limit_is_halved_on_the_first_recalculation_after_an_overdue_is_cleared() -> None:
    result = run_example("limit-cut-overdue-history")
    assert score_events(result, "u1") == [
        ("2026-02-16", "OVERDUE_STARTED", 800, 750),  # 750 is still base 10,000,000
        ("2026-02-20", "OVERDUE_CLEARED", 750, 760),
    ]
    # target 10,000,000 * 1/2 = 5,000,000, halved: 2,500,000
    assert limit_events(result, "u1") == [("2026-02-20", 5000000, 10000000 // 2 // 2)]
    event = only_limit_event(result, "u1")
    assert "OVERDUE_HISTORY" in event["reasons"]
    assert set(event["reasons"]) <= {"OVERDUE_HISTORY", "LOW_ACTIVITY"}
    assert balances(result, "u1") == (50000 - STD_A - 5 * 30, 0, 0)
    assert result["users"]["u1"]["limit_frozen"] is False


# ---------------------------------------------------------------- card timeouts


def test_a_card_debit_that_times_out_and_went_through_pays_the_installment() -> None:
    result = run_example("card-timeout-debited")
    # 90000 at 0%: 30000 per installment, taken from the card, value-dated 02-15
    assert balances(result, "u1") == (0, 100000 - 30000, 50000)  # fund untouched
    loan = result["loans"]["L1"]
    assert (loan["status"], loan["dpd"], loan["bucket"]) == ("active", 0, "C")
    assert loan["paid"] == money(30000, 0, 0)
    assert loan["outstanding"] == money(60000, 0, 0)
    assert "OVERDUE_STARTED" not in [e["reason"] for e in result["score_events"]]
    assert bureau_events(result, "L1") == []


def test_a_card_debit_that_times_out_and_failed_is_retried_the_next_day() -> None:
    result = run_example("card-timeout-failed")
    # 02-15: nothing taken (card pending, so no fund); 02-16: card 20000 + fund 10000
    assert balances(result, "u1") == (0, 0, 50000 - (30000 - 20000))
    loan = result["loans"]["L1"]
    assert (loan["status"], loan["dpd"], loan["bucket"]) == ("active", 0, "C")
    assert loan["paid"] == money(30000, 0, 0)
    assert loan["outstanding"] == money(60000, 0, 0)
    assert "OVERDUE_STARTED" not in [e["reason"] for e in result["score_events"]]


# ---------------------------------------------------------------- collection hold


def test_a_collection_hold_stops_reminders_and_escalation_but_not_dpd_or_penalty() -> None:
    result = run_example("collection-hold")
    # both loans unpaid since 02-15: DPD 12 on 02-26, 12 days of 30 fen penalty
    for lid in ("L1", "L2"):
        loan = result["loans"][lid]
        assert (loan["status"], loan["dpd"], loan["bucket"]) == ("overdue", 12, "M1")
        assert loan["outstanding"] == money(120000, STD_INTEREST, 12 * 30)
    assert [n for n in result["notifications"] if n["loan"] == "L1"] == []
    assert notification_dates(result, "L2", "overdue_reminder") == [
        "2026-02-15",
        "2026-02-16",
        "2026-02-17",
    ]
    for user in ("u1", "u2"):
        assert score_events(result, user) == [("2026-02-16", "OVERDUE_STARTED", 700, 650)]


def test_releasing_a_hold_catches_escalation_up_to_the_dpd() -> None:
    result = run_example("collection-hold")
    # L1 released at DPD 11 (02-25): its internal case opens that night
    assert result["loans"]["L1"]["collection_stage"] == "internal"
    assert result["loans"]["L2"]["collection_stage"] == "internal"
    assert result["handoffs"] == []


# ---------------------------------------------------------------- consent


def test_a_fund_without_consent_is_never_used() -> None:
    result = run_example("fund-consent-withdrawn")
    assert balances(result, "u1") == (0, 0, 100000)
    l1 = result["loans"]["L1"]
    assert (l1["status"], l1["dpd"], l1["bucket"]) == ("overdue", 3, "M1")  # 02-17
    assert l1["paid"] == money(0, 0, 0)
    assert l1["outstanding"] == money(90000, 0, 0)
    assert result["users"]["u1"]["limit_frozen"] is True
    assert score_events(result, "u1") == [("2026-02-16", "OVERDUE_STARTED", 700, 650)]


def test_a_fund_with_consent_pays_the_installment() -> None:
    result = run_example("fund-consent-withdrawn")
    assert balances(result, "u2") == (0, 0, 100000 - 30000)
    l2 = result["loans"]["L2"]
    assert (l2["status"], l2["dpd"]) == ("active", 0)
    assert l2["paid"] == money(30000, 0, 0)
    assert score_events(result, "u2") == [("2026-02-15", "ON_TIME_REPAYMENT", 700, 702)]


# ---------------------------------------------------------------- both stores


def test_the_waterfall_story_ends_the_same_on_sqlite_and_postgresql(db_url: str) -> None:
    data = json.loads((EXAMPLES / "waterfall.json").read_text())
    result = run_scenario(data, database_url=db_url)
    assert result["ledger_balanced"] is True
    assert balances(result, "u1") == (0, 0, 83794)
    assert result["loans"]["L1"]["paid"] == money(39406, 1800, 0)
