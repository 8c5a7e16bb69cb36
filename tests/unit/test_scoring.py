"""Credit-score impact (SPEC section 4)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.config import ProductConfig
from domain.model import LoanEvent
from domain.scoring import ScoreState, score_users

CFG = ProductConfig()
D = date(2026, 5, 10)

TABLE = [  # SPEC 4, in table order, with the deltas written out
    ("OVERDUE_STARTED", -50),
    ("BUCKET_M2", -30),
    ("BUCKET_M3", -30),
    ("BUCKET_M3_PLUS", -40),
    ("WRITE_OFF_DUE", -50),
    ("OVERDUE_CLEARED", +10),
    ("ON_TIME_REPAYMENT", +2),
]
LOAN_KINDS = [k for k, _ in TABLE]


def ev(kind: str, loan_id: str = "L1", user_id: str = "u1", on: date = D) -> LoanEvent:
    return LoanEvent(on, user_id, loan_id, kind)


def state(score: int = 600, last_ext: date | None = None, user_id: str = "u1") -> ScoreState:
    return ScoreState(user_id, score, last_ext)


def test_events_of_one_day_apply_in_table_order_whatever_order_they_arrive_in():
    events = [ev("ON_TIME_REPAYMENT"), ev("OVERDUE_CLEARED", "L2"), ev("OVERDUE_STARTED", "L3")]
    (decision,) = score_users([state(600)], events, [], D, CFG)
    assert [(e.reason, e.loan_id, e.old, e.new) for e in decision.events] == [
        ("OVERDUE_STARTED", "L3", 600, 550),
        ("OVERDUE_CLEARED", "L2", 550, 560),
        ("ON_TIME_REPAYMENT", "L1", 560, 562),
    ]
    assert decision.score == 562


def test_each_event_is_clamped_in_turn_so_the_order_changes_the_result():
    # 360 - 50 clamps to 350, then + 2 = 352 (the other order would give 350)
    (decision,) = score_users([state(360)], [ev("ON_TIME_REPAYMENT"), ev("OVERDUE_STARTED")],
                              [], D, CFG)
    assert [(e.old, e.new) for e in decision.events] == [(360, 350), (350, 352)]
    assert decision.score == 352


def test_the_top_of_the_range_clamps_too():
    (decision,) = score_users([state(945)], [ev("OVERDUE_CLEARED")], [], D, CFG)
    assert decision.score == 950


def test_write_off_scores_as_written_off_minus_fifty():
    (decision,) = score_users([state(700)], [ev("WRITE_OFF_DUE")], [], D, CFG)
    assert [(e.reason, e.old, e.new) for e in decision.events] == [("WRITTEN_OFF", 700, 650)]


def test_external_overdue_comes_after_written_off_and_before_cleared():
    events = [ev("OVERDUE_CLEARED"), ev("WRITE_OFF_DUE", "L2")]
    (decision,) = score_users([state(700)], events, ["u1"], D, CFG)
    assert [e.reason for e in decision.events] == [
        "WRITTEN_OFF", "EXTERNAL_OVERDUE", "OVERDUE_CLEARED"]
    assert decision.score == 700 - 50 - 30 + 10
    assert decision.events[1].loan_id is None


def test_external_overdue_counts_at_most_once_per_thirty_days():
    (first,) = score_users([state(700)], [], ["u1"], D, CFG)
    assert first.score == 670 and first.last_external_overdue == D
    assert score_users([state(670, D)], [], ["u1"], D + timedelta(days=29), CFG) == []
    (later,) = score_users([state(670, D)], [], ["u1"], D + timedelta(days=30), CFG)
    assert later.score == 640 and later.last_external_overdue == D + timedelta(days=30)


def test_several_external_overdue_signals_on_one_day_count_once():
    (decision,) = score_users([state(700)], [], ["u1", "u1", "u1"], D, CFG)
    assert decision.score == 670 and len(decision.events) == 1


def test_users_without_events_are_left_out_and_events_go_to_their_own_user():
    decisions = score_users([state(600, user_id="u1"), state(600, user_id="u2")],
                            [ev("OVERDUE_STARTED", user_id="u2")], [], D, CFG)
    assert [(d.user_id, d.score) for d in decisions] == [("u2", 550)]


def test_unknown_loan_event_kinds_do_not_move_the_score():
    assert score_users([state(600)], [ev("SOMETHING_ELSE")], [], D, CFG) == []


def test_configured_deltas_are_used():
    cfg = ProductConfig(score_deltas={"OVERDUE_STARTED": -100})
    (decision,) = score_users([state(600)], [ev("OVERDUE_STARTED"), ev("BUCKET_M2")], [], D, cfg)
    assert decision.score == 600 - 100 - 30


day_events = st.lists(st.sampled_from(LOAN_KINDS), max_size=8)


@given(start=st.integers(350, 950),
       days=st.lists(st.tuples(day_events, st.booleans()), min_size=1, max_size=40))
def test_scores_stay_within_the_range_for_any_sequence_of_events(start, days):
    score, last_ext = start, None
    for offset, (kinds, external) in enumerate(days):
        on = D + timedelta(days=offset)
        decisions = score_users([state(score, last_ext)], [ev(k, on=on) for k in kinds],
                                ["u1"] if external else [], on, CFG)
        for d in decisions:
            for e in d.events:
                assert 350 <= e.new <= 950
                assert e.old == score
                score = e.new
            assert d.score == score
            last_ext = d.last_external_overdue
    assert 350 <= score <= 950


@given(st.permutations([k for k, _ in TABLE]), st.integers(350, 950))
def test_one_days_result_does_not_depend_on_input_order(kinds, start):
    (decision,) = score_users([state(start)], [ev(k) for k in kinds], [], D, CFG)
    expected = start
    for _, delta in TABLE:  # table order, clamped after each
        expected = min(950, max(350, expected + delta))
    assert decision.score == expected
    assert [e.reason for e in decision.events] == [
        "OVERDUE_STARTED", "BUCKET_M2", "BUCKET_M3", "BUCKET_M3_PLUS", "WRITTEN_OFF",
        "OVERDUE_CLEARED", "ON_TIME_REPAYMENT"]
