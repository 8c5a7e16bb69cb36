"""``explain`` of a user the platform sent without a linked card (no ``card_token``)."""

from __future__ import annotations

from datetime import date

from reports.explain import explain
from tests.support.helpers import LoanSpec, migrated_engine, seed_portfolio


def test_explain_says_a_user_without_a_linked_card_is_never_debited_from_a_card(
        sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    seed_portfolio(engine, [{"id": "u1", "score": 700, "card_token": None},
                            {"id": "u2", "score": 700}],
                   [LoanSpec("L1", "u1", 90000, 0, 3, date(2026, 1, 15)),
                    LoanSpec("L2", "u2", 90000, 0, 3, date(2026, 1, 15))])
    try:
        assert "No bank card is linked" in explain(engine, "u1")
        assert "未绑定银行卡" in explain(engine, "u1", lang="zh")
        assert "No bank card is linked" not in explain(engine, "u2")
    finally:
        engine.dispose()
