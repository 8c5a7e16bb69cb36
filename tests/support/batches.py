"""Strategies for the batches of the way in (``events.record``, ``users.upsert``, and
their JSONL files): a valid batch with exactly one item broken in one field, paired
with the path the refusal must name (``events[3].amount``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from domain.commands import LOAN_KINDS, MONEY_KINDS, SIMPLE_KINDS
from tests.support.strategies import ANY_CHAR, VALID_ID, bad_id, values

ZONE = ZoneInfo("Asia/Shanghai")
FEN = st.integers(1, 10**13)
RATE = st.integers(0, 100_000)
TERM = st.integers(1, 360)
SEEDED = st.integers(0, 29).map(lambda k: f"u{k:07d}")  # the bad-input portfolio's users

# kind -> {field: (valid, bad values, required)}
_LOAN_FIELDS = {"loan": (VALID_ID, "id", True), "principal": (FEN, "fen", True),
                "annual_rate_bp": (RATE, "rate", True), "term_months": (TERM, "term", True)}
KINDS: dict[str, dict[str, tuple[st.SearchStrategy[Any], str, bool]]] = {
    **{k: {} for k in SIMPLE_KINDS},
    **{k: {"amount": (FEN, "fen", True)} for k in MONEY_KINDS},
    **{k: {"loan": (VALID_ID, "id", True),
           "reason": (st.sampled_from(["complaint", "dispute", "bereavement"]), "text", False)}
       for k in LOAN_KINDS},
    "repay": {"amount": (FEN, "fen", True), "loan": (VALID_ID, "optional_id", False),
              "reference": (st.sampled_from(["bank-ref-1", "ALIPAY 77"]), "text", False)},
    "draw": _LOAN_FIELDS,
    "apply": _LOAN_FIELDS,
    "audit": {"loan": (VALID_ID, "id", True),
              "outcome": (st.sampled_from(["approved", "rejected"]), "outcome", True)},
    "card_timeout": {"resolves": (st.sampled_from(["debited", "failed"]), "resolves", False)},
    "identity_renewed": {"expires": (st.sampled_from(["2040-01-01", "2099-12-31"]),
                                     "expires", True)},
}

NOT_INT_OR_NONE = (st.booleans() | st.floats(allow_nan=False) | st.text(max_size=8)
                   | st.lists(st.integers(), max_size=2))  # for optional fields
NOT_INT = st.none() | NOT_INT_OR_NONE
BAD: dict[str, st.SearchStrategy[Any]] = {
    "fen": st.integers(-(10**6), 0) | st.integers(10**13 + 1, 10**15) | NOT_INT,
    "rate": st.integers(-(10**6), -1) | st.integers(100_001, 10**7) | NOT_INT,
    "term": st.integers(-100, 0) | st.integers(361, 10**4) | NOT_INT,
    "id": bad_id(True),
    "optional_id": bad_id(True, optional=True),
    "text": st.sampled_from(["11010519491231002X", "4111 1111 1111 1111",
                             "6222-0212-3456-7890-128", "a\x00b"]) | st.integers(),
    "outcome": st.text(max_size=10).filter(lambda v: v not in ("approved", "rejected"))
    | st.none() | st.booleans(),
    "resolves": st.text(max_size=10).filter(lambda v: v not in ("debited", "failed"))
    | st.integers(),
    "expires": st.sampled_from(["2020-01-01", "2026-02-30", "tomorrow", "20991231"])
    | st.integers() | st.none(),
}
KNOWN_KEYS = {"key", "kind", "user", "occurred_at", "date", "at", "amount", "loan", "reason",
              "reference", "principal", "annual_rate_bp", "term_months", "outcome",
              "resolves", "expires"}


def _key_ok(key: Any) -> bool:
    return isinstance(key, str) and 1 <= len(key) <= 200 and key.isascii() \
        and key.isprintable() and " " not in key


@st.composite
def valid_event(draw: st.DrawFn, index: int, now: datetime, user: st.SearchStrategy[str]
                ) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(KINDS)))
    event: dict[str, Any] = {"key": f"batch-{index}-{draw(st.integers(0, 10**9))}",
                             "kind": kind, "user": draw(user)}
    if draw(st.booleans()):
        ago = draw(st.integers(0, 6 * 86_400))
        event["occurred_at"] = (now - timedelta(seconds=ago)).astimezone(ZONE).isoformat()
    for name, (valid, _, required) in KINDS[kind].items():
        if required or draw(st.booleans()):
            event[name] = draw(valid)
    return event


@st.composite
def bad_event(draw: st.DrawFn, index: int, now: datetime, user: st.SearchStrategy[str]
              ) -> tuple[Any, str]:
    """(event, the field the refusal names) with exactly one thing wrong."""
    event = draw(valid_event(index, now, user))
    p = f"events[{index}]"
    fields = KINDS[event["kind"]]
    ways = ["kind", "user", "key", "missing_key", "occurred_at", "derived", "unknown",
            "not_object"]
    ways += ["value"] * 3 if fields else []
    if any(req for _, _, req in fields.values()):
        ways.append("missing")
    way = draw(st.sampled_from(ways))
    if way == "not_object":
        return draw(values(True).filter(lambda v: not isinstance(v, dict))), p
    if way == "kind":
        event["kind"] = draw(st.text(max_size=20).filter(lambda k: k not in KINDS)
                             | st.integers() | st.none())
        return event, f"{p}.kind"
    if way == "user":
        event["user"] = draw(bad_id(True))
        return event, f"{p}.user"
    if way == "key":
        event["key"] = draw(st.text(ANY_CHAR, max_size=201).filter(lambda k: not _key_ok(k))
                            | st.integers() | st.none())
        return event, f"{p}.key"
    if way == "missing_key":
        del event["key"]
        return event, f"{p}.key"
    if way == "occurred_at":
        event["occurred_at"] = draw(st.one_of(
            st.integers(3600, 10**8).map(lambda s: (now + timedelta(seconds=s)).isoformat()),
            st.integers(7 * 86_400 + 60, 10**8).map(
                lambda s: (now - timedelta(seconds=s)).isoformat()),
            st.just((now - timedelta(hours=1)).replace(tzinfo=None).isoformat()),
            st.sampled_from(["yesterday", "2026-13-01T00:00:00+08:00", ""]),
            st.integers(), st.booleans(), st.lists(st.integers(), max_size=1)))
        return event, f"{p}.occurred_at"
    if way == "derived":
        name = draw(st.sampled_from(["date", "at"]))
        event[name] = draw(st.sampled_from(["2026-03-01", "12:00"]))
        return event, f"{p}.{name}"
    if way == "unknown":
        name = draw(st.text(st.characters(exclude_categories=("Cs",)), min_size=1,
                            max_size=20).filter(lambda k: k not in KNOWN_KEYS))
        event[name] = draw(values(True))
        return event, f"{p}.{name}"
    if way == "missing":
        name = draw(st.sampled_from(sorted(n for n, f in fields.items() if f[2])))
        del event[name]
        return event, f"{p}.{name}"
    name = draw(st.sampled_from(sorted(fields)))
    event[name] = draw(BAD[fields[name][1]])
    return event, f"{p}.{name}"


@st.composite
def bad_events_batch(draw: st.DrawFn, now: datetime,
                     user: st.SearchStrategy[str] = VALID_ID) -> tuple[list[Any], str]:
    """A batch of 1-12 events, one of them bad."""
    size = draw(st.integers(1, 12))
    bad_at = draw(st.integers(0, size - 1))
    batch = [draw(valid_event(i, now, user)) for i in range(size)]
    batch[bad_at], field = draw(bad_event(bad_at, now, user))
    return batch, field


# ---------------------------------------------------------------- users
NAMES = st.sampled_from(["Zhang San", "李四", "O'Brien", ""])
MONEY = st.integers(0, 10**13)
USER_FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "name": (NAMES, st.sampled_from(["11010519491231002X", "110105194912310", "a\x00b",
                                     "x" * 201]) | st.integers()),
    "phone": (st.sampled_from(["13800000000", "+8613800000000", ""]),
              st.sampled_from(["138-0000-0000", "phone", "1" * 22]) | st.integers()),
    "birth_date": (st.sampled_from(["1990-05-01", "2008-02-29"]),
                   st.sampled_from(["1990-02-30", "01/05/1990", "1990"]) | st.integers()),
    "identity_verified": (st.booleans(), st.sampled_from(["yes", 1, 0, [True]])),
    "identity_expires": (st.sampled_from(["2030-01-01", None]),
                         st.sampled_from(["2030-13-01", "soon"]) | st.integers()),
    "card_token": (st.sampled_from(["tok_9f2c", "card:abc-1"]),
                   st.sampled_from(["4111111111111111", "6222 0212 3456 7890 128",
                                    "tok 1", "x" * 101]) | st.integers()),
    "consent": (st.fixed_dictionaries({}, optional={"wallet": st.booleans(),
                                                    "card": st.booleans()}),
                st.sampled_from(["all", [True], 5, True])),
    "score": (st.integers(0, 2000),
              st.integers(2001, 10**6) | st.integers(-100, -1) | NOT_INT_OR_NONE),
    "limit": (MONEY, st.integers(-100, -1) | NOT_INT_OR_NONE),
    "wallet": (MONEY, st.integers(-100, -1) | NOT_INT_OR_NONE),
    "card": (MONEY, st.integers(-100, -1) | NOT_INT_OR_NONE),
    "fund": (MONEY, st.integers(-100, -1) | NOT_INT_OR_NONE),
}
SENSITIVE_NAMES = st.sampled_from(["id_number", "national_id", "idCardNo", "card_number",
                                   "pan", "identity_no", "resident_id"])


@st.composite
def valid_user(draw: st.DrawFn, index: int) -> dict[str, Any]:
    user: dict[str, Any] = {"id": f"new{index}-{draw(st.integers(0, 10**6))}"}
    for name, (valid, _) in USER_FIELDS.items():
        if draw(st.booleans()):
            user[name] = draw(valid)
    return user


@st.composite
def bad_users_batch(draw: st.DrawFn) -> tuple[list[Any], str]:
    size = draw(st.integers(1, 12))
    bad_at = draw(st.integers(0, size - 1))
    batch: list[Any] = [draw(valid_user(i)) for i in range(size)]
    p = f"users[{bad_at}]"
    way = draw(st.sampled_from(["value", "value", "value", "id", "missing_id", "unknown",
                                "sensitive", "not_object", "duplicate"]))
    user = batch[bad_at]
    if way == "not_object":
        batch[bad_at] = draw(values(True).filter(lambda v: not isinstance(v, dict)))
        return batch, p
    if way == "id":
        user["id"] = draw(bad_id(True))
        return batch, f"{p}.id"
    if way == "missing_id":
        del user["id"]
        return batch, f"{p}.id"
    if way == "duplicate" and bad_at > 0:
        user["id"] = batch[0]["id"]
        return batch, f"{p}.id"
    if way in ("unknown", "duplicate"):
        name = draw(st.text(st.characters(exclude_categories=("Cs",)), min_size=1,
                            max_size=20).filter(lambda k: k not in USER_FIELDS and k != "id"))
        user[name] = draw(values(True))
        return batch, f"{p}.{name}"
    if way == "sensitive":
        name = draw(SENSITIVE_NAMES)
        user[name] = draw(st.sampled_from(["11010519491231002X", "4111111111111111", "x"]))
        return batch, f"{p}.{name}"
    name = draw(st.sampled_from(sorted(USER_FIELDS)))
    user[name] = draw(USER_FIELDS[name][1])
    return batch, f"{p}.{name}"
