"""A synthetic portfolio for demos and benchmarks, deterministic for a given seed.

Every user has a linked card (an opaque ``tok-...`` token, not the user id; the bank
simulator is seeded by it). About 1/30 of loans fall due on any given day; a share of
users hold no money and so go overdue; some have recent activity or risk signals.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from domain import lending
from domain.activity import Activity
from domain.config import ProductConfig
from domain.deduction import synthetic_card_token
from store import journals as journal_rows
from store import loans as loan_rows
from store import schema as s

AGENCIES = ("Alpha Recovery", "Beta Collect", "Gamma Services")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


def user_id(n: int) -> str:
    """The id of seeded user number ``n``."""
    return f"u{n:07d}"


def _batches(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def seed_portfolio(engine: Engine, users: int, start: date, *, seed: int = 7,
                   config: ProductConfig | None = None, batch: int = 5000) -> dict[str, int]:
    """Insert ``users`` users with one loan each, disbursed over the year before ``start``."""
    config = config or ProductConfig()
    rng = random.Random(seed)  # noqa: S311 - seeded, repeatable synthetic data, not a secret
    with engine.begin() as conn:
        conn.execute(insert(s.agencies), [{"name": a} for a in AGENCIES])
    loans_made = 0
    for ids in _batches(users, batch):
        user_rows: list[dict[str, Any]] = []
        bank_rows, loans, journals = [], [], []
        for n in ids:
            uid = user_id(n)
            broke = rng.random() < 0.08
            score = rng.randint(560, 800)
            days = sorted({start - timedelta(days=rng.randint(1, 89))
                           for _ in range(rng.randint(0, 40))}) if rng.random() < 0.3 else []
            wallet = 0 if broke else rng.choice((0, rng.randint(0, 300_000)))
            fund = 0 if broke else rng.choice((0, 0, rng.randint(0, 2_000_000)))
            card = 0 if broke else rng.randint(0, 1_500_000)
            user_rows.append({
                "id": uid, "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                "phone": f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}",
                "score": score, "credit_limit": config.base_limit(score) // 2,
                "wallet": wallet, "fund": fund, "last_base": config.base_limit(score),
                "last_recalc": start - timedelta(days=rng.randint(1, 29)),
                "activity": Activity(active_days=days).to_json() if days else None,
                "card_token": synthetic_card_token(uid)})
            bank_rows.append({"user_id": uid, "balance": card})
            disbursed = start - timedelta(days=rng.randint(1, 360))
            principal = rng.choice((100_000, 300_000, 500_000, 1_000_000, 2_000_000))
            loan = lending.new_loan(f"L{n:07d}", uid, principal, rng.choice((1080, 1460, 1800)),
                                    12, disbursed)
            late = broke and rng.random() < 0.35
            paid_before = start - timedelta(days=rng.randint(1, 175)) if late else start
            journals.append(lending.bring_in(loan, start, paid_before))
            if wallet:
                journals.append(lending.opening_balance(uid, f"wallet:{uid}", wallet, start))
            if fund:
                journals.append(lending.opening_balance(uid, f"fund:{uid}", fund, start))
            user_rows[-1]["last_disbursed"] = disbursed
            user_rows[-1]["next_recalc"] = user_rows[-1]["last_recalc"] + timedelta(
                days=config.limit_recalc_interval_days)
            loans.append(loan)
        with engine.begin() as conn:
            conn.execute(insert(s.users), user_rows)
            conn.execute(insert(s.sim_bank_accounts), bank_rows)
            loan_rows.insert_loans(conn, loans)
            journal_rows.insert_journals(conn, journals)
        loans_made += len(loans)
    return {"users": users, "loans": loans_made}
