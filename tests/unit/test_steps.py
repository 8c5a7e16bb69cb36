"""The one table of steps (domain/steps.py): order, chunking, keys, replays."""

from __future__ import annotations

from datetime import date

import pytest

from domain.steps import (
    CLOSE,
    RELEASE_RUN,
    ROW_NAMES,
    Step,
    StepKey,
    close_steps,
    is_chunked,
    may_attempt,
    next_to_close,
    per_chunk,
    rank,
    replay_order,
)

NIGHT = [Step.DEDUCT, Step.OVERDUE, Step.SCORE, Step.LIMIT, Step.COLLECT, Step.HANDOFF,
         Step.RECONCILE, Step.RECONCILE_CLOSE]


def test_a_night_closes_in_the_order_of_the_cycle() -> None:
    assert close_steps(date(2026, 3, 10)) == NIGHT


def test_a_month_end_adds_the_bureau_file_last() -> None:
    assert close_steps(date(2026, 2, 28)) == [*NIGHT, Step.BUREAU_FILE]
    assert close_steps(date(2028, 2, 28)) == NIGHT  # a leap year: the 29th is the end


def test_the_handoff_the_proof_and_the_bureau_file_run_once_the_others_per_chunk() -> None:
    assert {s for s in Step if not is_chunked(s)} == {Step.HANDOFF, Step.RECONCILE_CLOSE,
                                                      Step.BUREAU_FILE}


def test_a_release_corrects_the_bureau_file_chunk_by_chunk() -> None:
    assert not per_chunk(StepKey(Step.BUREAU_FILE))
    assert per_chunk(StepKey(Step.BUREAU_FILE, run=RELEASE_RUN))
    assert not per_chunk(StepKey(Step.HANDOFF, run=RELEASE_RUN))


@pytest.mark.parametrize(("fields", "key", "label"), [
    (("deduct", "", "night"), StepKey(Step.DEDUCT), "deduct"),
    (("deduct", "0600", "night"), StepKey(Step.DEDUCT, "0600"), "deduct@0600"),
    (("deduct", "1700", "release"), StepKey(Step.DEDUCT, "1700", RELEASE_RUN),
     "deduct@1700#release"),
    (("limit", "", "release"), StepKey(Step.LIMIT, run=RELEASE_RUN), "limit#release"),
    (("reconcile_close", "", "night"), StepKey(Step.RECONCILE_CLOSE), "reconcile_close"),
])
def test_a_step_key_is_made_of_its_fields_and_reads_as_its_label(
        fields: tuple[str, str, str], key: StepKey, label: str) -> None:
    assert StepKey.of(*fields) == key
    assert (key.step.value, key.at, key.run) == fields and key.label == label


@pytest.mark.parametrize(("fields", "what"), [
    (("", "", "night"), "step"), (("close", "", "night"), "step"),
    (("Deduct", "", "night"), "step"), (("deduct@0600", "", "night"), "step"),
    (("deduct", "6am", "night"), "attempt"), (("deduct", "2460", "night"), "attempt"),
    (("limit", "0600", "night"), "attempt"), (("limits", "", "night"), "step"),
    (("deduct", "", "again"), "run"), (("overdue ", "", "night"), "step")])
def test_fields_that_name_no_step_key_are_refused(fields: tuple[str, str, str],
                                                  what: str) -> None:
    with pytest.raises(ValueError, match=what):
        StepKey.of(*fields)


def test_every_name_a_cycle_row_may_hold_is_a_step_or_the_close() -> None:
    assert (*(s.value for s in Step), CLOSE) == ROW_NAMES


def test_a_daytime_attempt_runs_only_once_the_day_before_is_closed() -> None:
    on = date(2026, 3, 10)
    assert may_attempt(on, date(2026, 3, 9)) and may_attempt(on, on)
    assert not may_attempt(on, date(2026, 3, 8)) and not may_attempt(on, None)


def test_the_catch_up_closes_the_oldest_unclosed_date_up_to_the_target() -> None:
    target = date(2026, 3, 10)
    assert next_to_close(None, target) == target
    assert next_to_close(date(2026, 3, 7), target) == date(2026, 3, 8)
    assert next_to_close(target, target) is None


def test_a_release_replays_from_the_failed_step_then_whole_days_with_their_attempts() -> None:
    first, later = date(2026, 3, 10), date(2026, 3, 11)
    failed = StepKey(Step.LIMIT)
    assert replay_order(first, failed, first, []) == [StepKey(s) for s in NIGHT[3:]]
    attempts = [StepKey(Step.DEDUCT, "1700"), StepKey(Step.DEDUCT, "0600")]
    assert replay_order(later, failed, first, attempts) == [
        StepKey(Step.DEDUCT, "0600"), StepKey(Step.DEDUCT, "1700"),
        *(StepKey(s) for s in NIGHT)]


def test_users_held_at_a_daytime_attempt_replay_the_whole_close_of_that_day() -> None:
    on = date(2026, 3, 10)
    held_at = StepKey(Step.DEDUCT, "0600")
    assert replay_order(on, held_at, on, []) == [StepKey(s) for s in NIGHT]
    assert rank(on, held_at) < rank(on, StepKey(Step.DEDUCT)) < rank(on, StepKey(Step.LIMIT))
