"""Bad command-line arguments: a non-zero exit (2), a message naming the option or field,
and a seeded database left exactly as it was.

Every case is one valid command line with exactly one argument broken (a bad value, a
missing required option or an unknown option); values are passed as ``--opt=value`` so
a value starting with ``-`` stays a value. ``REDIS_URL`` is unset, so ``repay`` and
``limit recalc`` run in this process against the seeded database: if validation let a
case through, the snapshot would show it.

Generated cases (max_examples): 1,000 over every command below.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import main
from store.engine import make_engine
from store.snapshot import differences
from tests.support.badinput import CASES, business_state
from tests.support.strategies import ID_ALPHABET, ID_RE, iso_date

SLOW_OK = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]
ARG_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                   max_size=30)


def not_int_text() -> st.SearchStrategy[str]:
    # click reads integers with int(): " 7 ", "1_000" and "١٢" (Arabic-Indic) are integers
    return (ARG_TEXT | st.sampled_from(["1.5", "1e3", "ten", "0x10", "", "5 fen"])).filter(
        lambda s: not _int(s))


def _int(s: str) -> bool:
    try:
        int(s)
    except ValueError:
        return False
    return True


def int_out_of(lo: int, hi: int | None) -> st.SearchStrategy[str]:
    out = st.integers(max_value=lo - 1)
    if hi is not None:
        out = out | st.integers(min_value=hi + 1)
    return out.map(str) | not_int_text()


def bad_date_text() -> st.SearchStrategy[str]:
    return (ARG_TEXT.filter(lambda s: not _any_iso(s))
            | st.sampled_from(["2026-02-30", "2026-13-01", "2026-00-10", "26-03-01", "yesterday",
                               "03/01/2026", "2026/03/01", "0000-01-01"]))


def _any_iso(s: str) -> bool:
    """date.fromisoformat also reads 20260301 and 2026-W09-7; the CLI takes what it reads."""
    try:
        date.fromisoformat(s)
    except ValueError:
        return False
    return True


def bad_id_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(""), st.text(ID_ALPHABET, min_size=65, max_size=80),
        st.tuples(st.text(ID_ALPHABET, max_size=5), ARG_TEXT.filter(
            lambda s: s != "" and not ID_RE.fullmatch(s)), st.text(ID_ALPHABET, max_size=5))
        .map("".join),
    )


def unknown_user() -> st.SearchStrategy[str]:
    return st.text(ID_ALPHABET, min_size=1, max_size=64).filter(lambda u: not u.startswith("u0"))


VALID_DATE = "2026-03-01"
# command -> (base options as {name: value}, required names, {name: bad value strategy},
#             field named by a refusal of a value when it differs from the option name)
COMMANDS: dict[tuple[str, ...], tuple[dict[str, str], set[str], dict[str, Any]]] = {
    ("repay",): (
        {"user": "u0000001", "amount": "100", "reference": "ref-1", "loan": "L0000001",
         "date": VALID_DATE},
        {"user", "amount", "reference"},
        {"user": bad_id_text() | unknown_user(), "amount": int_out_of(1, 10**13),
         "reference": st.just("") | st.text(ID_ALPHABET, min_size=101, max_size=120),
         "loan": bad_id_text(), "date": bad_date_text().filter(lambda s: not iso_date(s))},
    ),
    ("limit", "recalc"): (
        {"user": "u0000001", "date": VALID_DATE}, {"user"},
        {"user": bad_id_text() | unknown_user(),
         "date": bad_date_text().filter(lambda s: not iso_date(s))},
    ),
    ("cycle", "run"): ({"date": VALID_DATE, "concurrency": "2"}, set(),
                       {"date": bad_date_text(), "concurrency": int_out_of(1, 64)}),
    ("cycle", "status"): ({"date": VALID_DATE}, set(), {"date": bad_date_text()}),
    ("cycle", "release"): ({"date": VALID_DATE}, {"date"}, {"date": bad_date_text()}),
    ("seed",): ({"users": "10", "start": VALID_DATE, "chunk-size": "5"}, {"users"},
                {"users": int_out_of(1, 20_000_000), "start": bad_date_text(),
                 "chunk-size": int_out_of(1, 1_000_000)}),
    ("worker",): ({"concurrency": "2"}, set(), {"concurrency": int_out_of(1, 64)}),
    ("flower",): ({"port": "5555"}, set(), {"port": int_out_of(1, 65535)}),
    ("up",): ({"concurrency": "2", "flower-port": "5555"}, set(),
              {"concurrency": int_out_of(1, 64), "flower-port": int_out_of(1, 65535)}),
    ("demo",): ({"users": "100", "days": "1", "concurrency": "1"}, set(),
                {"users": int_out_of(100, 1_000_000), "days": int_out_of(1, 3650),
                 "concurrency": int_out_of(1, 16)}),
}
# options that take no database URL
NO_DATABASE = {("worker",), ("flower",), ("demo",)}


@st.composite
def bad_command_line(draw: st.DrawFn) -> tuple[list[str], str]:
    """(argv, option): a valid command line with exactly one option broken."""
    command = draw(st.sampled_from(sorted(COMMANDS)))
    base, required, bad = COMMANDS[command]
    options = dict(base)
    way = draw(st.sampled_from(["value"] * 4 + (["missing"] if required else []) + ["unknown"]))
    if way == "value":
        name = draw(st.sampled_from(sorted(bad)))
        options[name] = draw(bad[name])
    elif way == "missing":
        name = draw(st.sampled_from(sorted(required)))
        del options[name]
    else:
        name = draw(st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-"), min_size=2,
                            max_size=15).filter(lambda n: n not in base and not n.startswith(
                                "-") and n not in ("database-url", "help", "wait", "via",
                                                   "local-demo", "scenarios", "out")))
        options[name] = draw(ARG_TEXT)
    argv = [*command, *(f"--{k}={v}" for k, v in options.items())]
    return argv, name


@pytest.mark.timeout(300)  # `up` and `demo` would run for long if a case were valid
def test_bad_command_line_arguments_exit_2_naming_the_option_and_change_nothing(
        seeded_sqlite: str) -> None:
    engine = make_engine(seeded_sqlite)
    before = business_state(engine)
    runner = CliRunner()
    env = {"REDIS_URL": None, "DATABASE_URL": seeded_sqlite, "FLOWER_BASIC_AUTH": None}

    @settings(max_examples=1000, deadline=None, suppress_health_check=SLOW_OK, database=None)
    @given(bad_command_line())
    def case(bad: tuple[list[str], str]) -> None:
        argv, name = bad
        if tuple(argv[:2]) not in NO_DATABASE and (argv[0],) not in NO_DATABASE:
            argv = [*argv, f"--database-url={seeded_sqlite}"]
        result = runner.invoke(main, argv, env=env)
        assert result.exit_code == 2, (argv, result.output, result.exception)
        message = result.stderr
        assert re.search(rf"(--{re.escape(name)}(?![\w-])|(^|\s){re.escape(name)}:)", message), (
            argv, message)
        CASES["cli arguments"] += 1

    case()
    assert differences(before, business_state(engine)) == []


def test_the_issue_examples_are_refused_naming_the_field(seeded_sqlite: str) -> None:
    engine = make_engine(seeded_sqlite)
    before = business_state(engine)
    runner = CliRunner()
    env = {"REDIS_URL": None, "DATABASE_URL": seeded_sqlite}
    db = f"--database-url={seeded_sqlite}"
    for argv, expected in [
        (["repay", "--user", "u0000001", "--amount", "-5", "--reference", "r1", db],
         "error: amount: Input should be greater than 0"),
        (["repay", "--user", "u0000001", "--amount", "5", "--reference", "r1",
          "--date", "2026-02-30", db], "error: date: "),
        (["repay", "--user", "nobody", "--amount", "5", "--reference", "r1", db],
         "error: user: unknown user 'nobody'"),
        (["limit", "recalc", "--user", "u 1", db], "error: user: "),
        (["cycle", "run", "--date", "2026-13-01", db], "error: --date: "),
        (["seed", "--users", "10", "--start", "tomorrow", db], "error: --start: "),
    ]:
        result = runner.invoke(main, argv, env=env)
        assert result.exit_code == 2, (argv, result.output)
        assert expected in result.stderr, (argv, result.stderr)
    assert differences(before, business_state(engine)) == []
