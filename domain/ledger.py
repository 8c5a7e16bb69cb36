"""Double-entry accounts and journal builders (SPEC section 8).

Postings carry a signed amount, debit positive. Assets (loan receivables,
bank clearing, cash) hold debit balances; what the platform owes its users
(wallet, fund) holds credit balances, so a user's wallet balance is minus the
sum of its postings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date

from domain.model import Journal

CASH = "cash"
BANK_CLEARING = "bank_clearing"
UNEARNED_INTEREST = "unearned_interest"
PENALTY_INCOME = "penalty_income"
OPENING_EQUITY = "opening_equity"
RECOVERY_INCOME = "recovery_income"


def wallet(user_id: str) -> str:
    return f"wallet:{user_id}"


def fund(user_id: str) -> str:
    return f"fund:{user_id}"


def receivable(loan_id: str, component: str) -> str:
    return f"loan:{loan_id}:{component}"


def written_off(loan_id: str) -> str:
    return f"written_off:{loan_id}"


SOURCE_ACCOUNTS = {"wallet": wallet, "fund": fund}


def source_account(source: str, user_id: str) -> str:
    if source == "card":
        return BANK_CLEARING
    if source == "external":
        return CASH
    return SOURCE_ACCOUNTS[source](user_id)


def build(key: str, day: date, kind: str, user_id: str | None, loan_id: str | None,
          postings: Iterable[tuple[str, int]]) -> Journal:
    """Merge postings per account, drop zeros, and refuse an unbalanced journal."""
    merged: dict[str, int] = defaultdict(int)
    for account, amount in postings:
        merged[account] += amount
    lines = tuple((a, v) for a, v in merged.items() if v != 0)
    journal = Journal(key=key, day=day, kind=kind, user_id=user_id, loan_id=loan_id,
                      postings=lines)
    if not journal.balanced():
        raise ValueError(f"journal {key} does not balance: {lines}")
    return journal


def payment_postings(source: str, user_id: str,
                     allocations: Mapping[tuple[str, str], int],
                     excess: int = 0) -> list[tuple[str, int]]:
    """Money from ``source`` paying loan components; excess goes to the wallet."""
    total = sum(allocations.values()) + excess
    lines: list[tuple[str, int]] = [(source_account(source, user_id), total)]
    for (loan_id, component), amount in allocations.items():
        lines.append((receivable(loan_id, component), -amount))
    if excess:
        lines.append((wallet(user_id), -excess))
    return lines


def user_balance(postings_sum: int) -> int:
    """A user-facing liability balance from the sum of its postings."""
    return -postings_sum
