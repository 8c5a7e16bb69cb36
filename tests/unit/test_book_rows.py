"""A book's files read row by row (SPEC 13): free text holding an ID or card number is
refused by its cell however it is spaced; tokens and names pass."""

from __future__ import annotations

import pytest

from domain.book import read_file
from domain.commands import InputError

HEADER = "id,name,phone,card_token\n"


@pytest.mark.parametrize(("cells", "where"), [
    ("u1,1101 0519 9001 0112 3X,,", "users.csv:2:2"),   # a national ID with its X, spaced
    ("u1,,,4111-1111-1111-1111", "users.csv:2:4"),       # a card number with dashes
    ("u1,x,,4111111111111111", "users.csv:2:4"),
])
def test_an_id_or_card_number_in_a_free_text_cell_is_refused_by_its_cell(
        cells: str, where: str) -> None:
    with pytest.raises(InputError) as err:
        list(read_file("users.csv", [HEADER, cells + "\n"]))
    assert err.value.field == where


def test_tokens_names_and_phones_that_are_no_such_numbers_pass() -> None:
    rows = list(read_file("users.csv", [HEADER, "u1,User 1234567890123,13800000000,"
                                        "tok_4111111111111111\n"]))
    assert [u.card_token for _, u in rows] == ["tok_4111111111111111"]
