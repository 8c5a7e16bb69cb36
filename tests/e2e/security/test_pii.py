"""No national ID number, full name or full phone number in the workers' logs or in the
agency handoffs: a seeded portfolio with late loans is closed through a real worker
logging at INFO (the level of `creditcycle worker`), then the log file and the
``handoffs`` table are scanned for every user's name and phone."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from cli import api
from domain.collection import mask_name, mask_phone
from drills import testing
from drills.testing import wait_closed
from store import schema as s
from tests.support.security import start_worker, wait_until

START = date(2026, 3, 1)
USERS, CHUNK = 300, 50  # enough broke users for several loans past 90 days late
# 18-character resident identity number: region, birth date, sequence, check digit
NATIONAL_ID = re.compile(r"(?<![0-9])[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])"
                         r"(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9])")
HANDOFF_COLUMNS = {"day", "loan_id", "agency", "masked_name", "masked_phone", "contact_token",
                   "amount_owed", "dpd", "out_key"}  # out_key: the relay batch that carried it
LATIN_NAMES = ["Zhang Sanfeng", "Ouyang Nana", "Li Xiaolong", "Wang Jianguo"]


def _forms(text: str) -> set[str]:
    """How a string can appear in a log line: as is, or escaped by a JSON formatter."""
    return {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}


def test_no_name_phone_or_national_id_in_worker_logs_or_agency_handoffs(
        fresh_postgres_url: str, stack_on: Any, tmp_path: Path) -> None:
    engine = testing.seeded(fresh_postgres_url, USERS, START, CHUNK)
    with engine.begin() as conn:  # some names in Latin letters, longer than two characters
        for i, name in enumerate(LATIN_NAMES):
            conn.execute(update(s.users).where(s.users.c.id == f"u{i * 7:07d}")
                         .values(name=name))
        users = conn.execute(select(s.users.c.id, s.users.c.name, s.users.c.phone)).all()
    assert all(len(u.name) >= 2 and len(u.phone) == 11 for u in users)

    st = stack_on(fresh_postgres_url)
    log = tmp_path / "worker.log"
    start_worker(st, log)
    last = START + timedelta(days=1)
    api.submit("creditcycle.cycle.run", date=last.isoformat())
    wait_closed(engine, last)
    # ad-hoc work for named users, one of them refused
    api.submit("creditcycle.repay", user="u0000007", amount=5_000, reference="pii-1")
    api.submit("creditcycle.limit.recalc", user="u0000014")
    api.submit("creditcycle.repay", user="u9999999", amount=5_000, reference="pii-2")
    wait_until(lambda: "u9999999" in log.read_text(errors="replace"), 60, "the refusal")
    wait_until(lambda: "pii-1" in _event_keys(engine), 60, "the repayment")

    text = log.read_text(encoding="utf-8", errors="replace")
    assert "creditcycle.cycle.chunk" in text, "the worker log is not the one of this run"
    leaks = [(u.id, form) for u in users for value in (u.name, u.phone)
             for form in _forms(value) if form in text]
    assert leaks == [], f"names or phones in the worker log: {leaks[:5]}"
    assert NATIONAL_ID.search(text) is None

    with engine.connect() as conn:
        handoffs = conn.execute(select(s.handoffs)).mappings().all()
        owner = dict(conn.execute(select(s.loans.c.id, s.loans.c.user_id)).all())
    assert len(handoffs) >= 3, "the portfolio should reach agency handoffs"
    assert set(handoffs[0].keys()) == HANDOFF_COLUMNS
    by_id = {u.id: u for u in users}
    everything = " ".join(str(v) for h in handoffs for v in h.values())
    for h in handoffs:
        person = by_id[owner[h["loan_id"]]]
        assert h["masked_name"] == mask_name(person.name) == person.name[0] + "*"
        assert h["masked_phone"] == mask_phone(person.phone)
        assert re.fullmatch(r"[0-9]{3}\*{6}[0-9]{2}", h["masked_phone"])
        assert person.id not in h["contact_token"] and person.phone not in h["contact_token"]
    leaks = [(u.id, value) for u in users for value in (u.name, u.phone) if value in everything]
    assert leaks == [], f"names or phones in the handoffs: {leaks[:5]}"
    assert NATIONAL_ID.search(everything) is None


def test_no_table_holds_a_national_id_number() -> None:
    suspicious = re.compile(r"(national|identity|id_?(card|no|number)|citizen|passport|ssn)",
                            re.IGNORECASE)
    # SPEC 12 keeps whether the identity is verified and when it expires (a flag and a date),
    # never the document's number: a column named so may not hold text or a number.
    columns = [f"{t.name}.{c.name}" for t in s.metadata.sorted_tables for c in t.columns
               if suspicious.search(c.name)
               and c.type.python_type not in (bool, date)]
    assert columns == []


def _event_keys(engine: Any) -> set[str]:
    with engine.connect() as conn:
        return {k.removeprefix("repay:") for k in conn.execute(select(s.events.c.key)).scalars()
                if k}
