"""An existing book brought in from CSV (SPEC 13 ``creditcycle import DIR``), validated whole.

Three files: ``users.csv``, ``loans.csv`` (each loan with the number of its
installments already paid) and ``balances.csv`` (opening wallet, fund and card
balances). Every cell is checked before anything is written; the first bad one
is named ``file:line:column``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
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


@dataclass(frozen=True, slots=True)
class Book:
    users: list[UserRow]
    loans: list[LoanRow]
    balances: list[BalanceRow]


def _header(text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text.partition("\n")[0])))
    return rows[0] if rows else []


def _cells(row: Mapping[str, str]) -> dict[str, Any]:
    """Empty cells take the default; booleans are words (true/false, 1/0, yes/no)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if v is None or v.strip() == "":
            continue
        low = v.strip().lower()
        out[k] = _BOOL.get(low, v) if k in _BOOLS else v
    return out


_BOOLS = {"identity_verified", "consent_wallet", "consent_card", "consent_fund"}


def _rows(name: str, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    known = set(FILES[name].model_fields)
    header = reader.fieldnames or []
    for column, title in enumerate(header, start=1):
        if title not in known:
            raise InputError(f"{name}:1:{column}", f"unknown column {title!r}; the columns "
                                                   f"are {', '.join(FILES[name].model_fields)}")
    try:
        for row in reader:
            if None in row:
                raise InputError(f"{name}:{reader.line_num}", "more cells than columns")
            yield reader.line_num, row
    except csv.Error as exc:
        raise InputError(f"{name}:{reader.line_num}", f"not valid CSV: {exc}") from None


def parse_file(name: str, text: str) -> list[tuple[int, Any]]:
    """The rows of one file with their lines, each validated; a bad cell raises InputError
    ``file:line:column``."""
    model = FILES[name]
    header = _header(text)
    out: list[tuple[int, Any]] = []
    ids: set[object] = set()
    for line, row in _rows(name, text):
        where = f"{name}:{line}"
        try:
            refuse_sensitive(row, where)
        except InputError as exc:
            field = exc.field.removeprefix(f"{where}.")
            col = header.index(field) + 1 if field in header else 0
            raise InputError(f"{where}:{col}", f"{field}: {exc.message}") from None
        try:
            item = model.model_validate(_cells(row), strict=False)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else ""
            col = header.index(field) + 1 if field in header else 0
            raise InputError(f"{where}:{col}" if col else where,
                             f"{field}: {err['msg']}" if field else err["msg"]) from None
        key = getattr(item, "id", None) or getattr(item, "user", None)
        if key in ids:
            col = header.index("id" if name != "balances.csv" else "user") + 1
            raise InputError(f"{where}:{col}", f"{key!r} appears twice in {name}")
        ids.add(key)
        out.append((line, item))
    return out


def parse_book(texts: Mapping[str, str], known_users: set[str]) -> Book:
    """The whole book, each file and the references between them (a loan's or balance's
    user among the file's users or those already stored in ``known_users``)."""
    for name in REQUIRED:
        if name not in texts:
            raise InputError(name, "missing from the directory")
    users = parse_file("users.csv", texts["users.csv"])
    loans = parse_file("loans.csv", texts["loans.csv"])
    balances = parse_file("balances.csv", texts["balances.csv"]) if "balances.csv" in texts \
        else []
    everyone = known_users | {u.id for _, u in users}
    for name, rows in (("loans.csv", loans), ("balances.csv", balances)):
        header = _header(texts.get(name, ""))
        for line, row in rows:
            if row.user not in everyone:
                raise InputError(f"{name}:{line}:{header.index('user') + 1}",
                                 f"user {row.user!r} is neither in users.csv nor stored")
    header = _header(texts["loans.csv"])
    for line, loan in loans:
        if loan.installments_paid >= loan.term_months:
            col = header.index("installments_paid") + 1 if "installments_paid" in header else 0
            raise InputError(f"loans.csv:{line}:{col}",
                             f"{loan.installments_paid} of {loan.term_months} installments "
                             "paid: a paid-off loan is not part of the book")
    return Book([u for _, u in users], [x for _, x in loans], [b for _, b in balances])
