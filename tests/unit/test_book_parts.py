"""A file of the book cut into parts (``domain.book.read_part``) at the lines the check
marked: the parts' rows, with their line numbers, are the whole file's."""

from __future__ import annotations

import pytest

from domain import book as rules
from domain.commands import InputError

HEADER = "id,name,score\n"


def _users(n: int) -> list[str]:
    lines = [HEADER]
    for k in range(1, n + 1):
        # every seventh name runs over two lines (a quoted newline), every fifth line is blank
        name = f'"User\n{k}"' if k % 7 == 0 else f"User {k}"
        lines.append(f"u{k},{name},{600 + k}\n")
        if k % 5 == 0:
            lines.append("\n")
    return "".join(lines).splitlines(keepends=True)  # a file's physical lines


def _rows(rows: rules.FileRows) -> list[tuple[int, str, str]]:
    return [(line, u.id, u.name) for line, u in rows]


@pytest.mark.parametrize("cut_after", [[], [3], [6], [7], [2, 9], [1, 4, 5, 11], [14]])
def test_the_parts_cut_at_rows_ends_hold_the_whole_files_rows_with_their_lines(
        cut_after: list[int]) -> None:
    lines = _users(14)
    whole = _rows(rules.read_file("users.csv", lines))
    ends = [line for line, _, _ in whole]
    bounds = [1, *(ends[k - 1] for k in cut_after)]
    parts = []
    for after, through in zip(bounds, [*bounds[1:], None], strict=True):
        parts.extend(_rows(rules.read_part("users.csv", lines, after, through)))
    assert parts == whole
    assert len(whole) == 14 and whole[6][2] == "User\n7"


def test_a_bad_cell_in_a_later_part_is_named_by_its_own_line() -> None:
    lines = _users(14)
    bad = next(n for n, text in enumerate(lines, start=1) if text.startswith("u11,"))
    lines[bad - 1] = lines[bad - 1].replace(",611", ",x611")
    ends = [line for line, _ in rules.read_file("users.csv", lines[:bad - 3])]
    with pytest.raises(InputError) as err:
        list(rules.read_part("users.csv", lines, ends[-1], None))
    assert err.value.field == f"users.csv:{bad}:3"
