"""Structured worker logs: JSON lines with business date, step and chunk; PII masked."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from celery.signals import after_setup_logger, after_setup_task_logger
from hypothesis import given
from hypothesis import strategies as st

from workers.logs import JsonFormatter, MaskingFilter, bound, install, mask_text


def _logger(name: str, masking: MaskingFilter | None = None) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(name)
    logger.handlers = [logging.StreamHandler(stream)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if masking is None:
        install(logger, json_format=True)
    else:
        install(logger, json_format=True, masking=masking)
    return logger, stream


def _records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_mobile_numbers_keep_their_first_three_and_last_two_digits() -> None:
    assert mask_text("call 13812345678 now") == "call 138******78 now"
    assert mask_text("手机13912345678，") == "手机139******78，"


@pytest.mark.parametrize(("written", "masked"), [
    ("+8613800000000", "+86138******00"),
    ("8613800000000", "86138******00"),
    ("008613800000000", "0086138******00"),
    ("138 0000 0000", "138 **** **00"),
    ("138-0000-0000", "138-****-**00"),
    ("+86 13812345678", "+86 138******78"),
    ("+86-138-1234-5678", "+86-138-****-**78"),
    ("0086 139 1234 5678", "0086 139 **** **78"),
])
def test_a_mobile_number_with_a_country_code_or_grouped_is_masked_too(
        written: str, masked: str) -> None:
    assert mask_text(f"user phone {written}, call back") == f"user phone {masked}, call back"
    assert mask_text(f"电话{written}。") == f"电话{masked}。"


COUNTRY = st.sampled_from(["", "+86", "86", "0086", "+86 ", "+86-", "0086 ", "86-"])
SEPARATOR = st.sampled_from(["", " ", "-"])
BOUNDARY = st.text(st.characters(exclude_categories=("Cs",)).filter(
    lambda c: not c.isascii() or not c.isalnum()), max_size=8)


@given(before=BOUNDARY, country=COUNTRY, national=st.from_regex(r"1[3-9][0-9]{9}",
                                                                 fullmatch=True),
       sep=SEPARATOR, after=BOUNDARY)
def test_no_way_of_writing_a_mobile_number_leaves_its_middle_digits_in_the_log(
        before: str, country: str, national: str, sep: str, after: str) -> None:
    written = f"{country}{national[:3]}{sep}{national[3:7]}{sep}{national[7:]}"
    out = mask_text(f"{before}{written}{after}")
    digits = re.sub(r"[^0-9*]", "", out)
    assert national not in digits and national[3:9] not in digits, out
    assert f"{national[:3]}{sep}****{sep}**{national[-2:]}" in out, out


def test_id_card_numbers_keep_their_first_three_and_last_two_characters() -> None:
    assert mask_text("id 11010119900307123X ok") == "id 110*************3X ok"
    assert mask_text("id=110101199003071234") == "id=110*************34"


def test_names_given_keep_their_first_character() -> None:
    assert mask_text("borrower Zhang San (张三) paid", names=["Zhang San", "张三"]) == \
        "borrower Z* (张*) paid"


def test_amounts_ids_and_longer_digit_runs_are_left_alone() -> None:
    text = "paid 41206 fen on loan L0000012 key deduct:u0000001:2026-02-15 ref 123456789012345"
    assert mask_text(text) == text


def test_a_record_is_one_json_object_with_the_business_date_step_and_chunk() -> None:
    logger, stream = _logger("creditcycle.test.json")
    with bound(date="2026-02-15", step="deduct", chunk=3):
        logger.info("debited %s for %s", 41206, "u0000001")
    logger.info("outside any chunk")
    first, second = _records(stream)
    assert first["message"] == "debited 41206 for u0000001"
    assert (first["business_date"], first["step"], first["chunk"]) == ("2026-02-15", "deduct", 3)
    assert first["level"] == "INFO" and first["logger"] == "creditcycle.test.json"
    assert "business_date" not in second


def test_personal_data_is_masked_in_the_message_its_arguments_and_the_traceback() -> None:
    logger, stream = _logger("creditcycle.test.mask", MaskingFilter(names=["Zhang San"]))
    try:
        raise ValueError("card of 13800000000 (ID 110101199003071234) refused")
    except ValueError:
        logger.exception("repay failed for %s, phone %s", "Zhang San", "13912345678")
    (record,) = _records(stream)
    assert record["message"] == "repay failed for Z*, phone 139******78"
    assert "13800000000" not in str(record["exc"]) and "138******00" in str(record["exc"])
    assert "110101199003071234" not in str(record["exc"])
    assert "ValueError" in str(record["exc"])


def test_celery_logger_signals_install_json_and_masking_on_the_worker_handlers() -> None:
    stream = io.StringIO()
    root = logging.getLogger("creditcycle.test.celery-root")
    root.handlers = [logging.StreamHandler(stream)]
    root.propagate = False
    task_logger = logging.getLogger("creditcycle.test.celery-task")
    task_logger.handlers = [logging.StreamHandler(io.StringIO())]
    after_setup_logger.send(sender=None, logger=root, loglevel=logging.INFO, logfile=None,
                            format="", colorize=False)
    after_setup_task_logger.send(sender=None, logger=task_logger, loglevel=logging.INFO,
                                 logfile=None, format="", colorize=False)
    for logger in (root, task_logger):
        handler = logger.handlers[0]
        assert isinstance(handler.formatter, JsonFormatter)
        assert any(isinstance(f, MaskingFilter) for f in handler.filters)
    root.warning("phone 13700001111")
    assert json.loads(stream.getvalue())["message"] == "phone 137******11"
