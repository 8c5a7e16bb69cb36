"""An existing book brought in from CSV (SPEC 13 ``creditcycle import DIR``), validated whole.

Three files: ``users.csv``, ``loans.csv`` (each loan with the number of its
installments already paid) and ``balances.csv`` (opening wallet, fund and card
balances). Every cell is checked before anything is written; the first bad one
is named ``file:line:column``. The files are read as they go, twice: ``check_book``
checks them whole keeping only ids and a few numbers per user, then the writer
reads them again with ``read_file`` (the same validation, so the same values).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import chain, islice
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.commands import Id, InputError, Text
from domain.intake import refuse_sensitive

NonNeg = Annotated[int, Field(ge=0, le=10**13)]
_BOOL = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserRow(_Row):
    id: Id
    name: Annotated[Text, Field(max_length=200)] = ""
    phone: Annotated[str, Field(pattern=r"^\+?[0-9]{0,20}$")] = ""
    birth_date: date | None = None
    identity_verified: bool = True
    identity_expires: date | None = None
    card_token: Annotated[str, Field(max_length=100, pattern=r"^[A-Za-z0-9_.:\-]*$")] = ""
    score: Annotated[int, Field(ge=0, le=2000)] = 600
    limit: NonNeg = 0
    consent_wallet: bool = True
    consent_card: bool = True
    consent_fund: bool = True


class LoanRow(_Row):
    id: Id
    user: Id
    principal: Annotated[int, Field(gt=0, le=10**12)]
    annual_rate_bp: Annotated[int, Field(ge=0, le=100_000)]
    term_months: Annotated[int, Field(ge=1, le=360)]
    disbursed: date
    installments_paid: Annotated[int, Field(ge=0, le=360)] = 0


class BalanceRow(_Row):
    user: Id
    wallet: NonNeg = 0
    fund: NonNeg = 0
    card: NonNeg = 0


FILES: dict[str, type[_Row]] = {"users.csv": UserRow, "loans.csv": LoanRow,
                                "balances.csv": BalanceRow}
REQUIRED = ("users.csv", "loans.csv")


Lines = Iterable[str]  # a file's text lines (an open file, read as it goes)


@dataclass(slots=True)
class Checked:
    """What the first, checking pass keeps for the writing one: ids and a few numbers per
    user, never the rows themselves (a million of them would not fit in memory).

    ``users``: the ids in users.csv; ``outside``: users named by loans.csv or
    balances.csv that are not in users.csv (each with where it first appears), which
    must be stored already; ``last_disbursed``: each user's latest loan's date (as an
    ordinal); ``balances``: wallet, fund and card of each user in balances.csv;
    ``loan_marks``: the line on which every ``MARK_EVERY``-th loan of loans.csv ends,
    where the file may be cut into parts (``read_part``)."""

    users: set[str] = field(default_factory=set)
    outside: dict[str, str] = field(default_factory=dict)
    last_disbursed: dict[str, int] = field(default_factory=dict)
    balances: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    loans: int = 0
    loan_marks: list[int] = field(default_factory=list)  # see ``MARK_EVERY``


MARK_EVERY = 10_000  # loans between two lines where loans.csv may be cut into parts
_BOOLS = {"identity_verified", "consent_wallet", "consent_card", "consent_fund"}
_FREE_TEXT = {"name", "phone", "card_token"}  # cells that may not hold an ID or card number
# A cell can look like a national ID (15 or 18 characters) or a card number (13 to 19
# digits) only if it has at least 13 characters and nothing but digits, spaces, dashes
# and an X (a national ID's check character): the others skip the full check.
_SHORTEST_SENSITIVE = 13
_NOT_A_NUMBER = re.compile(r"[^\d\s\-Xx]")


class FileRows:
    """The rows of one file with their line numbers, each validated as it is read (the
    file is read as it goes: a bad cell late in a large file is found without holding
    the rows before it). A bad cell raises InputError ``file:line:column``; the header
    is read, and an unknown column refused, when this is made."""

    def __init__(self, name: str, lines: Lines, offset: int = 0) -> None:
        self.name = name
        self.offset = offset  # the lines before the first one ``lines`` holds, the header's aside
        self.model = FILES[name]
        self.reader = csv.reader(lines, strict=True)
        try:
            self.header = next(self.reader, [])
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{name}:1", f"not valid CSV: {exc}") from None
        known = self.model.model_fields
        for column, title in enumerate(self.header, start=1):
            if title not in known:
                raise InputError(f"{name}:1:{column}", f"unknown column {title!r}; the "
                                                       f"columns are {', '.join(known)}")

    def where(self, line: int, field_name: str) -> str:
        """``file:line:column`` of ``field_name`` (``file:line`` for no such column)."""
        col = self.header.index(field_name) + 1 if field_name in self.header else 0
        return f"{self.name}:{line}:{col}" if col else f"{self.name}:{line}"

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        name, header, reader, model = self.name, self.header, self.reader, self.model
        offset = self.offset
        bools = [i for i, title in enumerate(header) if title in _BOOLS]
        texts = [i for i, title in enumerate(header) if title in _FREE_TEXT]
        width = len(header)
        try:
            for cells in reader:
                line = reader.line_num + offset
                if not cells:
                    continue  # a blank line
                if len(cells) > width:
                    raise InputError(f"{name}:{line}", "more cells than columns")
                for i in texts:
                    if i < len(cells) and len(cells[i]) >= _SHORTEST_SENSITIVE \
                            and not _NOT_A_NUMBER.search(cells[i]):
                        self._refuse_sensitive(line, header[i], cells[i])
                values: dict[str, Any] = {k: v for k, v in zip(header, cells, strict=False)
                                          if v.strip()}  # an empty cell takes the default
                for i in bools:
                    if header[i] in values:
                        v = values[header[i]]
                        values[header[i]] = _BOOL.get(v.strip().lower(), v)
                try:
                    yield line, model.model_validate(values, strict=False)
                except ValidationError as exc:
                    err = exc.errors()[0]
                    at = str(err["loc"][0]) if err["loc"] else ""
                    raise InputError(self.where(line, at),
                                     f"{at}: {err['msg']}" if at else err["msg"]) from None
        except csv.Error as exc:
            raise InputError(f"{name}:{reader.line_num + offset}",
                             f"not valid CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}:{reader.line_num + offset + 1}",
                             f"not UTF-8: {exc}") from None

    def _refuse_sensitive(self, line: int, field_name: str, value: str) -> None:
        try:
            refuse_sensitive({field_name: value}, "")
        except InputError as exc:
            raise InputError(self.where(line, field_name),
                             f"{field_name}: {exc.message}") from None


def read_file(name: str, lines: Lines) -> FileRows:
    """The validated rows of ``lines``, the text of the book's file ``name``."""
    return FileRows(name, lines)


def read_part(name: str, lines: Lines, after: int, through: int | None) -> FileRows:
    """The validated rows of a part of the book's file ``name``: the rows on the lines
    after line ``after`` through line ``through`` (None: to the end), each cut a line on
    which a row ends (``Checked.loan_marks``; 1: the header's). Lines keep their numbers."""
    it = iter(lines)
    header = next(it, "")
    for _ in range(after - 1):  # the lines after the header, through ``after``
        next(it, None)
    part = it if through is None else islice(it, through - after)
    return FileRows(name, chain([header], part), offset=after - 1)


def check_book(open_file: Callable[[str], Lines | None]) -> Checked:
    """The first pass over a book: every cell, no id twice in a file, each loan with
    fewer installments paid than its term. ``open_file(name)`` gives a file's lines
    (None: the file is absent; users.csv and loans.csv are required). References to
    users neither in users.csv nor stored are the caller's to check (``outside``)."""
    files: dict[str, Lines] = {}
    for name in FILES:
        lines = open_file(name)
        if lines is None:
            if name in REQUIRED:
                raise InputError(name, "missing from the directory")
            continue
        files[name] = lines
    out = Checked()
    _check_users(read_file("users.csv", files["users.csv"]), out)
    _check_loans(read_file("loans.csv", files["loans.csv"]), out)
    if "balances.csv" in files:
        _check_balances(read_file("balances.csv", files["balances.csv"]), out)
    return out


def _check_users(rows: FileRows, out: Checked) -> None:
    users = out.users
    for line, u in rows:
        if u.id in users:
            raise InputError(rows.where(line, "id"), f"{u.id!r} appears twice in users.csv")
        users.add(u.id)


def _check_loans(rows: FileRows, out: Checked) -> None:
    loan_ids: set[str] = set()
    users, last = out.users, out.last_disbursed
    for line, x in rows:
        if x.id in loan_ids:
            raise InputError(rows.where(line, "id"), f"{x.id!r} appears twice in loans.csv")
        loan_ids.add(x.id)
        if len(loan_ids) % MARK_EVERY == 0:
            out.loan_marks.append(line)
        if x.installments_paid >= x.term_months:
            raise InputError(rows.where(line, "installments_paid"),
                             f"{x.installments_paid} of {x.term_months} installments "
                             "paid: a paid-off loan is not part of the book")
        if x.user not in users and x.user not in out.outside:
            out.outside[x.user] = rows.where(line, "user")
        day = x.disbursed.toordinal()
        if day > last.get(x.user, 0):
            last[x.user] = day
    out.loans = len(loan_ids)


def _check_balances(rows: FileRows, out: Checked) -> None:
    for line, b in rows:
        if b.user in out.balances:
            raise InputError(rows.where(line, "user"),
                             f"{b.user!r} appears twice in balances.csv")
        if b.user not in out.users and b.user not in out.outside:
            out.outside[b.user] = rows.where(line, "user")
        out.balances[b.user] = (b.wallet, b.fund, b.card)


def refuse_unknown(checked: Checked, stored: set[str]) -> None:
    """Refuse the first user named in loans.csv or balances.csv that is neither in
    users.csv nor among ``stored`` (the stored ones of ``checked.outside``)."""
    for user, where in checked.outside.items():
        if user not in stored:
            raise InputError(where, f"user {user!r} is neither in users.csv nor stored")
