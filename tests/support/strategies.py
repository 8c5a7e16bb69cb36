"""Hypothesis strategies for input that must be refused, each paired with the field the
refusal must name.

Every generated case breaks exactly one thing of an otherwise valid input (a value of
the wrong type or out of range, a missing required field, an unknown field, positional
arguments), so the field the error must name is known in advance.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from cli import api
from domain.steps import Step

# ---------------------------------------------------------------- generic values
# Any code point, NUL, control characters and lone surrogates included.
ANY_CHAR = (st.characters(exclude_categories=()) | st.characters(categories=["Cs"])
            | st.sampled_from("\x00\n\t\u202e"))
JSON_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(10**20), 10**20)
                | st.floats(allow_nan=False, allow_infinity=False) | JSON_TEXT)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_TEXT, inner, max_size=3),
    max_leaves=6,
)
# Python callers can pass what JSON cannot carry.
PY_ONLY = st.sampled_from([b"u1", bytearray(b"5"), Decimal("5"), date(2026, 3, 1),
                           datetime(2026, 3, 1, 8, 0), (1, 2), frozenset({1}), 5j, object()])


def encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def values(json_only: bool) -> st.SearchStrategy[Any]:
    return JSON_VALUES if json_only else JSON_VALUES | PY_ONLY


def not_str(json_only: bool, *, optional: bool = False) -> st.SearchStrategy[Any]:
    return values(json_only).filter(
        lambda v: not isinstance(v, str) and not (optional and v is None))


def not_int(json_only: bool) -> st.SearchStrategy[Any]:
    return values(json_only).filter(lambda v: not _is_int(v)) | st.sampled_from(
        [True, False, 5.0, "5", "1e3", 1.5])


# ---------------------------------------------------------------- field kinds
ID_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
ID_ALPHABET = st.sampled_from("ABCxyz019_.:-")
VALID_ID = st.text(ID_ALPHABET, min_size=1, max_size=64)


def iso_date(value: str) -> bool:
    """What the payloads accept: YYYY-MM-DD and a real calendar date."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def hh_mm(value: str) -> bool:
    return bool(re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value))


def bad_id(json_only: bool, optional: bool = False) -> st.SearchStrategy[Any]:
    bad_char = ANY_CHAR.filter(lambda c: not ID_RE.fullmatch(c))
    return st.one_of(
        not_str(json_only, optional=optional),
        st.just(""),
        st.text(ID_ALPHABET, min_size=65, max_size=200),
        st.tuples(st.text(ID_ALPHABET, max_size=20), bad_char, st.text(ID_ALPHABET, max_size=20))
        .map("".join),
        st.sampled_from(["u1 ", " u1", "u1\n", "ü1", "u/1", "../u1", "u1;DROP TABLE users",
                         "１"]),
    )


def bad_date(json_only: bool, optional: bool = True) -> st.SearchStrategy[Any]:
    out_of_range = st.tuples(st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99)).map(
        lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}").filter(lambda s: not iso_date(s))
    return st.one_of(
        not_str(json_only, optional=optional),
        out_of_range,
        st.text(ANY_CHAR, max_size=14).filter(lambda s: not iso_date(s)),
        st.dates().map(lambda d: d.strftime("%d/%m/%Y")),
        st.dates().map(lambda d: d.isoformat() + "T00:00:00"),
        st.dates().map(lambda d: d.isoformat().replace("-", "")),
        st.dates().map(lambda d: " " + d.isoformat()),
        st.sampled_from(["2026-02-30", "2026-13-01", "0000-01-01", "2026-1-1", "tomorrow",
                         "２０２６-０１-０１", "2026-W01-1", "2026-001"]),
    )


def bad_str(json_only: bool, lo: int, hi: int) -> st.SearchStrategy[Any]:
    options = [not_str(json_only), st.text(ANY_CHAR, min_size=hi + 1, max_size=hi + 40)]
    if lo > 0:
        options.append(st.just(""))
    return st.one_of(*options)


def bad_int(json_only: bool, lo: int, hi: int) -> st.SearchStrategy[Any]:
    return st.one_of(not_int(json_only), st.integers(max_value=lo - 1),
                     st.integers(min_value=hi + 1), st.sampled_from([lo - 1, hi + 1]))


STEP_NAMES = [s.value for s in Step]


def valid_step() -> st.SearchStrategy[str]:
    return st.sampled_from(STEP_NAMES)


def bad_step(json_only: bool) -> st.SearchStrategy[Any]:
    return st.one_of(
        not_str(json_only), st.just(""),
        st.text(ANY_CHAR, max_size=40).filter(lambda s: s not in STEP_NAMES),
        valid_step().map(lambda s: s + "#" + "x" * 40),
        st.sampled_from(["Deduct", "deduct@0600", "limit#release", "close", "close ",
                         "limits"]),
    )


def bad_attempt(json_only: bool) -> st.SearchStrategy[Any]:
    """Not ``HHMM`` (the valid payloads here name any step, so the valid attempt is '')."""
    return st.one_of(
        not_str(json_only), st.text(ANY_CHAR, max_size=6).filter(
            lambda s: not (s == "" or (len(s) == 4 and s.isascii() and s.isdigit()
                                       and int(s[:2]) < 24 and int(s[2:]) < 60))),
        st.sampled_from(["6:00", "06:00", "2400", "0660", "600", "06000", "0600 "]))


def bad_run(json_only: bool) -> st.SearchStrategy[Any]:
    return st.one_of(not_str(json_only), st.text(ANY_CHAR, max_size=10).filter(
        lambda s: s not in ("night", "release")), st.sampled_from(["Night", "release "]))


def bad_time(json_only: bool) -> st.SearchStrategy[Any]:
    return st.one_of(
        not_str(json_only),
        st.text(ANY_CHAR, max_size=8).filter(lambda s: not hh_mm(s)),
        st.tuples(st.integers(0, 99), st.integers(0, 99)).map(
            lambda t: f"{t[0]:02d}:{t[1]:02d}").filter(lambda s: not hh_mm(s)),
        st.sampled_from(["6:00", "06:0", "24:00", "06:60", "0600", "06:00:00", "06:00 "]),
    )


VALID_AGENCY = (st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 &.'-]{0,98}[A-Za-z0-9]", fullmatch=True)
                | st.sampled_from(["A", "Alpha Recovery", "华东催收", "Beta & Co."]))


def bad_agency(json_only: bool) -> st.SearchStrategy[Any]:
    control = ANY_CHAR.filter(lambda c: unicodedata.category(c).startswith("C"))
    return st.one_of(
        not_str(json_only), st.just(""), st.text(ID_ALPHABET, min_size=101, max_size=140),
        st.tuples(VALID_AGENCY, control, VALID_AGENCY).map("".join).filter(
            lambda s: len(s) <= 100),
        VALID_AGENCY.map(lambda s: " " + s), VALID_AGENCY.map(lambda s: s + "\n"),
        st.sampled_from([" ", "\t", "Alpha\x00", "Alpha\u202e", "Alpha "]),
    )


def _bad_batch(json_only: bool) -> st.SearchStrategy[Any]:
    """Not a list of 1 to 1,000 items (the field named is the list's own)."""
    return (values(json_only).filter(lambda v: not isinstance(v, list))
            | st.just([]) | st.integers(1001, 1200).map(lambda n: [{}] * n))


# (valid strategy, invalid strategy factory(json_only), required)
Field = tuple[st.SearchStrategy[Any], Any, bool]
FIELDS: dict[str, dict[str, Field]] = {
    "CycleRun": {"date": (st.dates().map(date.isoformat), bad_date, False)},
    "Chunk": {
        "date": (st.dates().map(date.isoformat), lambda j: bad_date(j, optional=False), True),
        "step": (valid_step(), bad_step, True),
        "at": (st.just(""), bad_attempt, False),
        "run": (st.sampled_from(["night", "release"]), bad_run, False),
        "chunk_no": (st.integers(0, 10_000_000), lambda j: bad_int(j, 0, 10_000_000), True),
        "lo": (st.text(max_size=64), lambda j: bad_str(j, 0, 64), True),
        "hi": (st.text(max_size=64), lambda j: bad_str(j, 0, 64), True),
    },
    "Attempt": {
        "at": (st.sampled_from(["06:00", "17:00", "00:00", "23:59"]), bad_time, True),
        "date": (st.dates().map(date.isoformat), bad_date, False),
    },
    "Release": {"date": (st.dates().map(date.isoformat),
                         lambda j: bad_date(j, optional=False), True)},
    "Repay": {
        "user": (VALID_ID, bad_id, True),
        "amount": (st.integers(1, 10**13), lambda j: bad_int(j, 1, 10**13), True),
        "reference": (st.text(min_size=1, max_size=100), lambda j: bad_str(j, 1, 100), True),
        "loan": (VALID_ID, lambda j: bad_id(j, optional=True), False),
        "date": (st.dates().map(date.isoformat), bad_date, False),
    },
    "LimitRecalc": {
        "user": (VALID_ID, bad_id, True),
        "date": (st.dates().map(date.isoformat), bad_date, False),
    },
    "Agency": {"name": (VALID_AGENCY, bad_agency, True)},
    "Empty": {},
    # The batches: here only the list itself is broken (its items: tests/badinput/batches.py).
    "EventsRecord": {"events": (st.just([{"key": "k1", "kind": "payment", "user": "u1"}]),
                                _bad_batch, True)},
    "UsersUpsert": {"users": (st.just([{"id": "u1"}]), _bad_batch, True)},
}
for _task, _model in api.TASKS.items():
    assert _model.__name__ in FIELDS, f"no strategies for the payload of {_task}"
    assert set(FIELDS[_model.__name__]) == set(_model.model_fields), _model.__name__


def unknown_key(fields: dict[str, Field]) -> st.SearchStrategy[str]:
    # JSON carries lone surrogates too ("\ud800" is a legal JSON string).
    return (st.sampled_from(["self", "args", "kwargs", "task", "id", "__class__", "Date",
                             "amount ", "user_id", "\x00", "\ud800", "x" * 300])
            | st.text(ANY_CHAR, min_size=1, max_size=40)).filter(lambda k: k not in fields)


@st.composite
def bad_payload(draw: st.DrawFn, task: str, *, json_only: bool = False,
                with_args: bool = False) -> tuple[dict[str, Any], list[Any], str]:
    """(kwargs, args, field): a payload for ``task`` with exactly one thing wrong."""
    fields = FIELDS[api.TASKS[task].__name__]
    kwargs: dict[str, Any] = {}
    for name, (valid, _, required) in fields.items():
        if required or draw(st.booleans()):
            kwargs[name] = draw(valid)
    ways = ["unknown"]
    if fields:
        ways += ["value", "value", "value"]
    if any(req for _, _, req in fields.values()):
        ways.append("missing")
    if with_args:
        ways.append("args")
    way = draw(st.sampled_from(ways))
    args: list[Any] = []
    if way == "value":
        name = draw(st.sampled_from(sorted(fields)))
        kwargs[name] = draw(fields[name][1](json_only))
    elif way == "missing":
        name = draw(st.sampled_from(sorted(n for n, f in fields.items() if f[2])))
        del kwargs[name]
    elif way == "unknown":
        name = draw(unknown_key(fields))
        kwargs[name] = draw(values(json_only))
        if not encodable(name):
            # pydantic cannot read a key that is not valid Unicode: it refuses the whole
            # object, so the field named is "input"
            name = "input"
    else:
        name = "args"
        args = draw(st.lists(JSON_SCALARS, min_size=1, max_size=3))
    return kwargs, args, name


def any_bad_payload(*, json_only: bool = False, with_args: bool = False
                    ) -> st.SearchStrategy[tuple[str, dict[str, Any], list[Any], str]]:
    return st.sampled_from(sorted(api.TASKS)).flatmap(
        lambda task: bad_payload(task, json_only=json_only, with_args=with_args).map(
            lambda p: (task, *p)))


# ---------------------------------------------------------------- configuration
def _bad_number(ge: int | None) -> st.SearchStrategy[Any]:
    """For the Decimal keys: a number as int, float or numeric string is fine."""
    bad = [st.booleans(), st.none(), st.lists(st.integers(), max_size=2),
           st.dictionaries(JSON_TEXT, st.integers(), max_size=2),
           st.text(ANY_CHAR, max_size=10).filter(lambda s: not _numeric(s)),
           st.sampled_from(["NaN", "inf", "-Infinity", float("nan"), float("inf"), "1,5",
                            "1.5%", "0x10"])]
    if ge is not None:
        bad.append(st.decimals(max_value=Decimal(ge) - Decimal("0.0001"), allow_nan=False,
                               allow_infinity=False).map(str))
        bad.append(st.integers(max_value=ge - 1))
    return st.one_of(*bad)


def _numeric(s: str) -> bool:
    try:
        d = Decimal(s)
    except (ArithmeticError, ValueError):
        return False
    return d.is_finite()


def _int_key(lo: int | None, hi: int | None) -> st.SearchStrategy[Any]:
    bad = [not_int(False)]
    if lo is not None:
        bad.append(st.integers(max_value=lo - 1))
    if hi is not None:
        bad.append(st.integers(min_value=hi + 1))
    return st.one_of(*bad)


def _zone_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except Exception:
        return False
    return True


def _bad_times(window: bool) -> st.SearchStrategy[Any]:
    bad = [not_str(False).filter(lambda v: not isinstance(v, list)),
           st.lists(bad_time(False), min_size=1, max_size=3),
           st.lists(values(False).filter(lambda v: not isinstance(v, str)), min_size=1,
                    max_size=2)]
    if window:
        bad += [st.lists(st.sampled_from(["08:00", "21:00"]), max_size=1),
                st.lists(st.sampled_from(["08:00", "12:00", "21:00"]), min_size=3, max_size=4),
                st.just(["21:00", "08:00"]), st.just(["08:00", "08:00"])]
    return st.one_of(*bad)


def _bad_bounds() -> st.SearchStrategy[Any]:
    return st.one_of(
        not_str(False).filter(lambda v: not isinstance(v, list)),
        st.lists(st.integers(1, 400), max_size=6).filter(lambda v: len(v) != 3),
        st.lists(st.integers(1, 400), min_size=3, max_size=3).filter(lambda v: v != sorted(v)),
        st.tuples(st.integers(max_value=0), st.integers(1, 90), st.integers(91, 200)).map(list),
        st.lists(not_int(False), min_size=3, max_size=3),
    )


def _bad_ages() -> st.SearchStrategy[Any]:
    return st.one_of(
        not_str(False).filter(lambda v: not isinstance(v, list)),
        st.lists(st.integers(0, 150), max_size=4).filter(lambda v: len(v) != 2),
        st.tuples(st.integers(1, 150), st.integers(0, 149)).filter(lambda v: v[0] > v[1])
        .map(list),
        st.tuples(st.integers(max_value=-1), st.integers(0, 150)).map(list),
        st.tuples(st.integers(0, 150), st.integers(min_value=151)).map(list),
        st.lists(not_int(False), min_size=2, max_size=2),
    )


def _bad_reason_map(reasons: tuple[str, ...], number: bool) -> st.SearchStrategy[Any]:
    wrong_value = (st.booleans() | st.none() | st.text(ANY_CHAR, max_size=5).filter(
        lambda s: not _numeric(s)) | st.lists(st.integers(), max_size=2))
    if not number:
        wrong_value = wrong_value | st.floats() | st.sampled_from(["5", Decimal("5")])
    return st.one_of(
        not_str(False).filter(lambda v: not isinstance(v, dict)),
        st.text(ANY_CHAR, min_size=1, max_size=20).filter(lambda k: k not in reasons).map(
            lambda k: {k: 1}),
        st.tuples(st.sampled_from(reasons), wrong_value).map(lambda t: {t[0]: t[1]}),
    )


def _bad_base_table() -> st.SearchStrategy[Any]:
    row = st.lists(st.integers(0, 10**7), min_size=2, max_size=2)
    bad_row = st.one_of(
        st.lists(st.integers(), max_size=4).filter(lambda r: len(r) != 2),
        st.tuples(not_int(False), st.integers()).map(list),
        st.tuples(st.integers(), not_int(False)).map(list),
        values(False).filter(lambda v: not isinstance(v, list | tuple)),
    )
    return st.one_of(
        st.just([]), not_str(False).filter(lambda v: not isinstance(v, list | tuple)),
        st.tuples(st.lists(row, max_size=3), bad_row, st.lists(row, max_size=3)).map(
            lambda t: [*t[0], t[1], *t[2]]),
    )


def _bad_zone() -> st.SearchStrategy[Any]:
    return st.one_of(
        not_str(False),
        st.text(ANY_CHAR, max_size=30).filter(lambda s: not _zone_ok(s)),
        st.sampled_from(["America", "Asia", "Etc", "posix", "right", ".", "..", "/etc/passwd",
                         "Asia/Shanghai ", "asia/shanghai", "UTC+8", "Mars/Olympus",
                         "zone.tab", "tzdata.zi", "../../../etc/passwd"]).filter(
            lambda s: not _zone_ok(s)),
    )


CONFIG_KEYS: dict[str, st.SearchStrategy[Any]] = {
    "time_zone": _bad_zone(),
    "grace_days": _int_key(0, 60),
    "penalty_multiplier": _bad_number(0),
    "penalty_rate_cap_bp": _int_key(0, None),
    "fund_daily_redemption_cap": _int_key(0, None),
    "deduct_attempt_times": _bad_times(window=False),
    "late_attempts_after_days": _int_key(0, None),
    "bucket_bounds": _bad_bounds(),
    "score_min": _int_key(None, None),
    "score_max": _int_key(None, None),
    "score_deltas": _bad_reason_map(
        ("OVERDUE_STARTED", "BUCKET_M2", "BUCKET_M3", "BUCKET_M3_PLUS", "WRITTEN_OFF",
         "EXTERNAL_OVERDUE", "OVERDUE_CLEARED", "ON_TIME_REPAYMENT"), number=False),
    "external_overdue_interval_days": _int_key(0, None),
    "limit_base_table": _bad_base_table(),
    "limit_multipliers": _bad_reason_map(
        ("CAPACITY_DECLINE", "MULTI_BORROWING", "FLAGGED_CONTACTS", "IDENTITY_CHURN",
         "DORMANT"), number=True),
    "limit_hard_cap": _int_key(0, None),
    "limit_increase_cap": _bad_number(0),
    "limit_increase_floor": _int_key(0, None),
    "limit_increase_interval_days": _int_key(0, None),
    "limit_recalc_interval_days": _int_key(1, None),
    "internal_case_dpd": _int_key(1, None),
    "handoff_dpd": _int_key(1, None),
    "write_off_dpd": _int_key(1, None),
    "reminder_window": _bad_times(window=True),
    "due_soon_days": _int_key(0, None),
    "application_audit_hours": _int_key(1, None),
    "outbox_max_attempts": _int_key(1, 1000),
    "eligible_age": _bad_ages(),
    "audit_hours": _bad_times(window=True),
    "late_event_days": _int_key(0, 366),
    "chunk_size": _int_key(1, 1_000_000),
}

VALID_CONFIG: dict[str, st.SearchStrategy[Any]] = {
    "time_zone": st.sampled_from(["Asia/Shanghai", "UTC", "Europe/Berlin"]),
    "grace_days": st.integers(0, 60),
    "penalty_multiplier": st.sampled_from([1, "1.5", 2.0]),
    "chunk_size": st.integers(1, 1_000_000),
    "reminder_window": st.just(["09:00", "20:00"]),
    "bucket_bounds": st.just([30, 60, 90]),
    "score_deltas": st.just({"ON_TIME_REPAYMENT": 3}),
    "limit_multipliers": st.just({"DORMANT": "0.9"}),
}


@st.composite
def bad_config(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """(mapping, key): a configuration with exactly one key wrong (or unknown)."""
    from domain.config import ProductConfig

    assert set(CONFIG_KEYS) == set(ProductConfig.model_fields)
    data = {k: draw(v) for k, v in VALID_CONFIG.items() if draw(st.booleans())}
    if draw(st.integers(0, 9)) == 0:
        key = draw(st.text(ANY_CHAR, min_size=1, max_size=30).filter(
            lambda k: k not in CONFIG_KEYS) | st.sampled_from(["grace_dayz", "Grace_days",
                                                               "chunksize", "description"]))
        data[key] = draw(values(False))
        if not encodable(key):
            key = "config"  # pydantic refuses the whole mapping: "config" is named
    else:
        key = draw(st.sampled_from(sorted(CONFIG_KEYS)))
        data[key] = draw(CONFIG_KEYS[key])
    return data, key
