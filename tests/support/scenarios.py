"""A valid scenario and hypothesis strategies that break exactly one thing of it."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from domain.commands import EVENT_KINDS
from tests.support.strategies import (
    ANY_CHAR,
    VALID_ID,
    bad_config,
    bad_date,
    bad_id,
    bad_int,
    encodable,
    not_str,
    values,
)
from workers.scenario import TOP_LEVEL

VALID: dict[str, Any] = {
    "description": "Two users, two loans and one event of every shape; each case breaks one "
                   "field.",
    "config": {"grace_days": 1},
    "agencies": ["Alpha Recovery", "Beta Collect"],
    "users": [
        {"id": "u1", "name": "Zhang San", "phone": "13800000000", "birth_date": "1990-05-01",
         "score": 700, "limit": 2000000, "wallet": 0, "card": 100000, "fund": 50000,
         "consent": {"wallet": True, "card": True, "fund": False}},
        {"id": "u2", "name": "Li Si", "phone": "+8613900000001", "score": 560},
    ],
    "loans": [
        {"id": "L1", "user": "u1", "principal": 1200000, "annual_rate_bp": 1800,
         "term_months": 12, "disbursed": "2026-01-15"},
        {"id": "L2", "user": "u2", "principal": 90000, "annual_rate_bp": 0,
         "term_months": 3, "disbursed": "2025-12-31"},
    ],
    "events": [
        {"date": "2026-02-10", "user": "u1", "kind": "wallet_topup", "amount": 50000},
        {"date": "2026-02-11", "user": "u1", "kind": "repay", "loan": "L1", "amount": 30000,
         "reference": "pay-1"},
        {"date": "2026-02-11", "user": "u2", "kind": "job_loss"},
        {"date": "2026-02-12", "user": "u2", "kind": "collection_hold", "loan": "L2",
         "reason": "complaint"},
        {"date": "2026-02-12", "user": "u1", "kind": "draw", "loan": "L3", "principal": 100000,
         "annual_rate_bp": 1800, "term_months": 3},
        {"date": "2026-02-13", "user": "u1", "kind": "card_timeout", "resolves": "failed"},
    ],
    "run": {"from": "2026-02-10", "to": "2026-02-14"},
}
RUN_FROM, RUN_TO = date(2026, 2, 10), date(2026, 2, 14)


def scenario_bad_date(optional: bool = False) -> st.SearchStrategy[Any]:
    # A scenario reads any 10-character ISO date (2026-W07-2 is a week date).
    return bad_date(json_only=True, optional=optional).filter(lambda v: not _valid_iso(v))


def _valid_iso(s: Any) -> bool:
    if not isinstance(s, str) or len(s) != 10:
        return False
    try:
        date.fromisoformat(s)
    except ValueError:
        return False
    return True


FEN = (1, 10**13)
USER_FIELDS: dict[str, Any] = {
    "id": lambda: bad_id(json_only=True),
    "name": lambda: st.one_of(not_str(True, optional=False),
                              st.text(min_size=201, max_size=260)),
    "phone": lambda: st.one_of(not_str(True), st.text(ANY_CHAR, min_size=1, max_size=25)
                               .filter(lambda s: not _phone(s))),
    "birth_date": lambda: scenario_bad_date(optional=True),
    "score": lambda: bad_int(True, 0, 2000),
    "limit": lambda: bad_int(True, 0, 10**13),
    "wallet": lambda: bad_int(True, 0, 10**13),
    "card": lambda: bad_int(True, 0, 10**13),
    "fund": lambda: bad_int(True, 0, 10**13),
}
LOAN_FIELDS: dict[str, Any] = {
    "id": lambda: bad_id(json_only=True),
    "user": lambda: bad_id(json_only=True),
    "principal": lambda: bad_int(True, 1, 10**12),
    "annual_rate_bp": lambda: bad_int(True, 0, 100_000),
    "term_months": lambda: bad_int(True, 1, 360),
    "disbursed": scenario_bad_date,
}
EVENT_FIELDS: dict[str, Any] = {
    "date": scenario_bad_date,
    "user": lambda: bad_id(json_only=True),
    "amount": lambda: bad_int(True, *FEN),
    "loan": lambda: bad_id(json_only=True, optional=True),
    "reference": lambda: not_str(True, optional=True),
    "reason": lambda: not_str(True, optional=True),
    "principal": lambda: bad_int(True, *FEN),
    "annual_rate_bp": lambda: bad_int(True, 0, 100_000),
    "term_months": lambda: bad_int(True, 1, 360),
    "resolves": lambda: values(True).filter(lambda v: v not in ("debited", "failed")),
}
REQUIRED_EVENT_FIELDS = {"date", "user", "amount", "principal", "annual_rate_bp",
                         "term_months"}


def _phone(s: str) -> bool:
    import re

    return bool(re.fullmatch(r"\+?[0-9]{0,20}", s))


def _unknown(known: set[str]) -> st.SearchStrategy[str]:
    return st.text(ANY_CHAR, min_size=1, max_size=20).filter(
        lambda k: k not in known and encodable(k)) | st.sampled_from(
        ["Id", "user_id", "amount ", "extra"]).filter(lambda k: k not in known)


@st.composite
# C901: one branch per kind of defect it can plant; a table would need a function per row.
def bad_scenario(draw: st.DrawFn) -> tuple[dict[str, Any], str]:  # noqa: C901
    """(scenario, field): VALID with exactly one thing wrong, and the field to be named."""
    data = copy.deepcopy(VALID)
    way = draw(st.sampled_from([
        "top_unknown", "section_type", "required_section", "agency", "agency_dup",
        "user_field", "user_field", "user_field", "user_missing", "user_unknown",
        "user_not_object", "consent", "user_dup", "loan_field", "loan_field", "loan_missing",
        "loan_unknown_user", "loan_late", "loan_dup", "event_field", "event_field",
        "event_field", "event_missing", "event_kind", "event_unknown", "event_not_object",
        "event_unknown_user", "event_outside_run", "draw_existing_loan", "run_field",
        "run_order", "run_unknown", "run_missing", "run_not_object", "config",
    ]))
    if way == "top_unknown":
        key = draw(_unknown(TOP_LEVEL))
        data[key] = draw(values(True))
        return data, key
    if way == "section_type":
        name = draw(st.sampled_from(["agencies", "users", "loans", "events"]))
        data[name] = draw(values(True).filter(lambda v: not isinstance(v, list)))
        return data, name
    if way == "required_section":
        name = draw(st.sampled_from(["users", "run"]))
        del data[name]
        return data, name
    if way == "agency":
        i = draw(st.integers(0, 1))
        data["agencies"][i] = draw(st.one_of(
            not_str(True), st.text(" \t", max_size=3), st.text(min_size=101, max_size=120)))
        return data, f"agencies[{i}]"
    if way == "agency_dup":
        data["agencies"].append(data["agencies"][draw(st.integers(0, 1))])
        return data, "agencies"
    if way in ("user_field", "user_missing", "user_unknown", "user_not_object", "consent",
               "user_dup"):
        i = draw(st.integers(0, 1))
        user = data["users"][i]
        if way == "user_field":
            name = draw(st.sampled_from(sorted(USER_FIELDS)))
            user[name] = draw(USER_FIELDS[name]())
            return data, f"users[{i}].{name}"
        if way == "user_missing":
            del user["id"]
            return data, f"users[{i}].id"
        if way == "user_unknown":
            key = draw(_unknown(set(USER_FIELDS) | {"consent"}))
            user[key] = draw(values(True))
            return data, f"users[{i}].{key}"
        if way == "user_not_object":
            data["users"][i] = draw(values(True).filter(lambda v: not isinstance(v, dict)))
            return data, f"users[{i}]"
        if way == "consent":
            if draw(st.booleans()):
                user["consent"] = draw(values(True).filter(lambda v: not isinstance(v, dict)))
                return data, f"users[{i}].consent"
            source = draw(st.sampled_from(["wallet", "card", "fund"]))
            user["consent"] = {source: draw(values(True).filter(
                lambda v: not isinstance(v, bool)))}
            return data, f"users[{i}].consent.{source}"
        data["users"].append({"id": data["users"][i]["id"]})
        return data, "users[2].id"
    if way in ("loan_field", "loan_missing", "loan_unknown_user", "loan_late", "loan_dup"):
        i = draw(st.integers(0, 1))
        loan = data["loans"][i]
        if way == "loan_field":
            name = draw(st.sampled_from(sorted(LOAN_FIELDS)))
            loan[name] = draw(LOAN_FIELDS[name]())
            return data, f"loans[{i}].{name}"
        if way == "loan_missing":
            name = draw(st.sampled_from(sorted(LOAN_FIELDS)))
            del loan[name]
            return data, f"loans[{i}].{name}"
        if way == "loan_unknown_user":
            loan["user"] = draw(VALID_ID.filter(lambda u: u not in ("u1", "u2")))
            return data, f"loans[{i}].user"
        if way == "loan_late":
            loan["disbursed"] = (RUN_FROM + timedelta(days=draw(st.integers(0, 400)))
                                 ).isoformat()
            return data, f"loans[{i}].disbursed"
        data["loans"].append({**loan})
        return data, "loans[2].id"
    if way.startswith("event") or way == "draw_existing_loan":
        i = draw(st.integers(0, len(data["events"]) - 1))
        event = data["events"][i]
        if way == "event_field":
            name = draw(st.sampled_from(sorted(k for k in event if k != "kind")))
            event[name] = draw(EVENT_FIELDS[name]())
            return data, f"events[{i}].{name}"
        if way == "event_missing":
            name = draw(st.sampled_from(sorted(k for k in event if k in REQUIRED_EVENT_FIELDS)))
            del event[name]
            return data, f"events[{i}].{name}"
        if way == "event_kind":
            event["kind"] = draw(values(True).filter(lambda v: v not in EVENT_KINDS))
            return data, f"events[{i}].kind"
        if way == "event_unknown":
            fields = {"date", "user", "kind", "amount", "loan", "reason", "reference",
                      "principal", "annual_rate_bp", "term_months", "resolves"}
            key = draw(_unknown(fields))
            event[key] = draw(values(True))
            return data, f"events[{i}].{key}"
        if way == "event_not_object":
            data["events"][i] = draw(values(True).filter(lambda v: not isinstance(v, dict)))
            return data, f"events[{i}]"
        if way == "event_unknown_user":
            event["user"] = draw(VALID_ID.filter(lambda u: u not in ("u1", "u2")))
            return data, f"events[{i}].user"
        if way == "event_outside_run":
            days = draw(st.integers(1, 800))
            day = RUN_FROM - timedelta(days=days) if draw(st.booleans()) else (
                RUN_TO + timedelta(days=days))
            event["date"] = day.isoformat()
            return data, f"events[{i}].date"
        # a draw of a loan id that already exists
        data["events"][4]["loan"] = draw(st.sampled_from(["L1", "L2"]))
        return data, "events[4].loan"
    if way == "run_field":
        name = draw(st.sampled_from(["from", "to"]))
        data["run"][name] = draw(scenario_bad_date())
        return data, f"run.{name}"
    if way == "run_order":
        if draw(st.booleans()):
            data["run"]["to"] = (RUN_FROM - timedelta(days=draw(st.integers(1, 100)))
                                 ).isoformat()
        else:
            data["run"]["to"] = (RUN_FROM + timedelta(days=draw(st.integers(3661, 9000)))
                                 ).isoformat()
        return data, "run"
    if way == "run_unknown":
        key = draw(_unknown({"from", "to"}))
        data["run"][key] = draw(values(True))
        return data, f"run.{key}"
    if way == "run_missing":
        name = draw(st.sampled_from(["from", "to"]))
        del data["run"][name]
        return data, f"run.{name}"
    if way == "run_not_object":
        data["run"] = draw(values(True).filter(lambda v: not isinstance(v, dict)))
        return data, "run"
    config, key = draw(bad_config())
    data["config"] = config
    return data, "config" if key == "config" else f"config.{key}"
