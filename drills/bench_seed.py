"""``make bench``, the portfolio: generated inside PostgreSQL with set-based SQL (loans
from a few schedule templates, about 1/30 due on the date, 5% overdue across all buckets,
activity for 30% of users, risk signals for 2%). Used by ``drills.bench``."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date, timedelta
from typing import Any

import psycopg

from domain.config import ProductConfig
from domain.schedule import split_principal
from drills.seed import AGENCIES

PRINCIPALS = (100_000, 300_000, 500_000, 1_000_000, 2_000_000)
RATES = (1080, 1460, 1800)


def _psql(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


class _Told:
    """A cursor that names each statement to ``step`` before it runs it (the progress)."""

    def __init__(self, cur: psycopg.Cursor[Any], step: Callable[[str], None]) -> None:
        self.cur, self.step = cur, step

    def execute(self, query: str, params: Any = None) -> psycopg.Cursor[Any]:
        """``cursor.execute``, named first."""
        self.step(statement_name(query))
        return self.cur.execute(query, params)

    def copy(self, statement: str) -> AbstractContextManager[psycopg.Copy]:
        """``cursor.copy``, named first."""
        self.step(statement_name(statement))
        return self.cur.copy(statement)


def statement_name(sql: str) -> str:
    """What a seeding statement does, in a few words: ``INSERT INTO loans``."""
    m = re.match(r"\s*((?:CREATE UNLOGGED TABLE|INSERT INTO|UPDATE|DROP TABLE|COPY)\s+\w+"
                 r"|VACUUM)", sql)
    return m.group(1) if m else sql.split(None, 1)[0]


def seed_sql(dsn: str, users: int, night: date, history_days: int,
             config: ProductConfig, step: Callable[[str], None] | None = None) -> None:
    """Generate the portfolio inside PostgreSQL, set-based; ``step`` is told the name of
    each statement before it runs (the bench's progress)."""
    term = 36 if history_days else 12
    templates = [(t, p, r) for t, (p, r) in enumerate((p, r) for p in PRINCIPALS for r in RATES)]
    sched = [(t, k + 1, pp, ii) for t, p, r in templates
             for k, (pp, ii) in enumerate(split_principal(p, r, term))]
    start = night
    base_rows = config.limit_base_table
    base_case = " ".join(f"WHEN score >= {lo} THEN {amt}" for lo, amt in reversed(base_rows))
    d1 = (start - timedelta(days=1)).toordinal()
    d1s = (start - timedelta(days=1)).isoformat()
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = _Told(conn.cursor(), step or (lambda _name: None))
        cur.execute("CREATE UNLOGGED TABLE bench_template (tid int, principal bigint, rate int)")
        cur.execute("CREATE UNLOGGED TABLE bench_sched (tid int, no int, principal bigint, "
                    "interest bigint)")
        with cur.copy("COPY bench_template FROM STDIN") as cp:
            for row in templates:
                cp.write_row(row)
        with cur.copy("COPY bench_sched FROM STDIN") as cp:
            for line in sched:
                cp.write_row(line)
        oldest = history_days or 1
        spread = 30 if history_days else 360
        # A late loan owes what it would owe had it been disbursed when the new
        # portfolio's loan of the same number was: the history run then differs from
        # the new one in the loans' age alone, not in how much is overdue.
        new_disbursed = f"'{start}'::date - (1 + (i * 7919) % 360)::int"
        cutoff = f"'{start}'::date - (1 + (i * 31) % 181)::int"
        if history_days:
            cutoff = f"GREATEST({cutoff}, {new_disbursed})"
        cur.execute(f"""
            CREATE UNLOGGED TABLE bench_loans AS
            SELECT i, 'L' || lpad(i::text, 8, '0') AS id, 'u' || lpad(i::text, 8, '0') AS uid,
                   i % {len(templates)} AS tid,
                   '{start}'::date - ({oldest} + (i * 7919) % {spread})::int AS disbursed,
                   (i % 20 = 7) AS late,
                   CASE WHEN i % 20 = 7 THEN {cutoff} ELSE '{start}'::date END AS cutoff
            FROM generate_series(0::bigint, {users} - 1) AS i""")
        cur.execute(f"""
            INSERT INTO users (id, name, phone, score, credit_limit, limit_frozen, closed, wallet,
                               fund, consent_wallet, consent_card, consent_fund, card_blocked,
                               activity, last_disbursed, last_increase, last_base,
                               overdue_history_pending, last_recalc, next_recalc, card_token)
            SELECT b.uid, 'User ' || b.i, '138' || lpad(((b.i * 7919) % 100000000)::text, 8, '0'),
                   sc.score, sc.base / 2, false, false,
                   CASE WHEN b.late OR b.i % 5 <> 0 THEN 0 ELSE (b.i * 13) % 200000 END,
                   CASE WHEN b.late OR b.i % 7 <> 0 THEN 0 ELSE (b.i * 17) % 1000000 END,
                   true, true, true, false,
                   CASE WHEN b.i % 10 < 3 THEN json_build_object(
                            'days', json_build_array({d1} - (b.i % 40), {d1} - (b.i % 7), {d1}),
                            'inq', CASE WHEN b.i % 50 = 3
                                        THEN json_build_array({d1} - 2, {d1} - 1, {d1})
                                        ELSE json_build_array() END,
                            'churn', json_build_array(), 'cap', NULL,
                            'flag', CASE WHEN b.i % 50 = 13 THEN 3 ELSE 0 END)
                        WHEN b.i % 50 IN (3, 13) THEN json_build_object(
                            'days', json_build_array(),
                            'inq', CASE WHEN b.i % 50 = 3
                                        THEN json_build_array({d1} - 2, {d1} - 1, {d1})
                                        ELSE json_build_array() END,
                            'churn', json_build_array(), 'cap', NULL,
                            'flag', CASE WHEN b.i % 50 = 13 THEN 3 ELSE 0 END)
                   END,
                   b.disbursed, NULL, sc.base, false,
                   '{start}'::date - 1 - (b.i % 29)::int,
                   CASE WHEN b.i % 10 < 3 OR b.i % 50 IN (3, 13) THEN '{start}'::date
                        ELSE '{start}'::date - 1 - (b.i % 29)::int
                             + {config.limit_recalc_interval_days}
                   END,
                   -- domain.deduction.synthetic_card_token, in SQL
                   'tok-' || left(encode(sha256(convert_to(b.uid, 'UTF8')), 'hex'), 24)
            FROM bench_loans b
            CROSS JOIN LATERAL (SELECT 560 + (b.i * 37) % 240 AS score) s0
            CROSS JOIN LATERAL (SELECT s0.score, CASE {base_case} ELSE 0 END AS base) sc""")
        cur.execute(f"""
            INSERT INTO loans (id, user_id, principal, annual_rate_bp, term_months, disbursed,
                               status, dpd, bucket, collection_stage, on_hold, episode_level,
                               accrual_no, accrual_acc)
            SELECT b.id, b.uid, t.principal, t.rate, {term}, b.disbursed, 'active', 0, 'C',
                   'none', false, 0, 0, 0
            FROM bench_loans b JOIN bench_template t USING (tid)""")
        cur.execute(f"""
            INSERT INTO installments (loan_id, no, due_date, period_start, principal, interest,
                                      penalty, paid_principal, paid_interest, paid_penalty,
                                      pending_penalty, penalty_through)
            SELECT b.id, sc.no, (b.disbursed + make_interval(months => sc.no))::date,
                   (b.disbursed + make_interval(months => sc.no - 1))::date,
                   sc.principal, sc.interest, 0,
                   CASE WHEN (b.disbursed + make_interval(months => sc.no))::date < b.cutoff
                        THEN sc.principal ELSE 0 END,
                   CASE WHEN (b.disbursed + make_interval(months => sc.no))::date < b.cutoff
                        THEN sc.interest ELSE 0 END,
                   0, 0,
                   CASE WHEN b.late THEN '{d1s}'::date END
            FROM bench_loans b JOIN bench_sched sc USING (tid)
            ORDER BY b.id, sc.no""")  # a loan's installments together, as a draw writes them
        cur.execute("""
            UPDATE loans l SET next_due = m.due
            FROM (SELECT loan_id, min(due_date) AS due FROM installments
                  WHERE paid_principal < principal OR paid_interest < interest
                  GROUP BY loan_id) m
            WHERE l.id = m.loan_id""")
        m1, m2, m3 = config.bucket_bounds
        cur.execute(f"""
            UPDATE loans SET
              dpd = GREATEST(0, '{d1s}'::date - next_due + 1),
              status = CASE WHEN '{d1s}'::date - next_due + 1 > {config.grace_days}
                            THEN 'overdue' ELSE 'active' END
            WHERE next_due <= '{d1s}'::date""")
        cur.execute(f"""
            UPDATE loans SET
              bucket = CASE WHEN dpd <= 0 THEN 'C' WHEN dpd <= {m1} THEN 'M1'
                            WHEN dpd <= {m2} THEN 'M2' WHEN dpd <= {m3} THEN 'M3' ELSE 'M3+' END,
              episode_level = CASE WHEN status <> 'overdue' THEN 0 WHEN dpd > {m3} THEN 4
                                   WHEN dpd > {m2} THEN 3 WHEN dpd > {m1} THEN 2 ELSE 1 END,
              collection_stage = CASE WHEN status <> 'overdue' THEN 'none'
                                      WHEN dpd >= {config.handoff_dpd} THEN 'agency'
                                      WHEN dpd >= {config.internal_case_dpd} THEN 'internal'
                                      ELSE 'none' END
            WHERE dpd > 0""")
        names = list(AGENCIES)
        cur.execute("INSERT INTO agencies (name) SELECT unnest(%s::text[])", (names,))
        arr = "ARRAY[" + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + "]"
        cur.execute(f"""
            UPDATE loans SET agency = ({arr}::text[])[1 + (substr(id, 2)::int % {len(names)})]
            WHERE collection_stage = 'agency'""")
        cur.execute(f"""
            INSERT INTO collection_cases (loan_id, user_id, stage, agency, opened_on, paid_at_open)
            SELECT id, user_id, collection_stage, agency, '{d1s}'::date, 0 FROM loans
            WHERE collection_stage IN ('internal', 'agency')""")
        cur.execute("UPDATE users u SET limit_frozen = true FROM loans l "
                    "WHERE l.user_id = u.id AND l.status = 'overdue'")
        cur.execute("""
            INSERT INTO sim_bank_accounts (user_id, balance, invalid)
            SELECT uid, CASE WHEN late OR i % 3 = 0 THEN 0 ELSE 500000 + (i * 101) % 1000000 END,
                   false
            FROM bench_loans""")
        cur.execute(f"""
            INSERT INTO journals (key, day, kind, user_id, loan_id, amount)
            SELECT 'opening:' || l.id, '{d1s}', 'opening', l.user_id, l.id, o.p + o.i
            FROM loans l JOIN (SELECT loan_id, sum(principal - paid_principal) AS p,
                                      sum(interest - paid_interest) AS i
                               FROM installments GROUP BY loan_id) o ON o.loan_id = l.id""")
        cur.execute("""
            INSERT INTO postings (journal_key, account, owner, amount)
            SELECT 'opening:' || o.loan_id, x.account, o.loan_id, x.amount
            FROM (SELECT loan_id, sum(principal - paid_principal) AS p,
                         sum(interest - paid_interest) AS i
                  FROM installments GROUP BY loan_id) o
            CROSS JOIN LATERAL (VALUES ('loan:' || o.loan_id || ':principal', o.p),
                                       ('loan:' || o.loan_id || ':interest', o.i))
                 AS x(account, amount)
            WHERE x.amount <> 0""")
        cur.execute("""
            INSERT INTO postings (journal_key, account, owner, amount)
            SELECT 'opening:' || o.loan_id, 'opening_equity', NULL, -(o.p + o.i)
            FROM (SELECT loan_id, sum(principal - paid_principal) AS p,
                         sum(interest - paid_interest) AS i
                  FROM installments GROUP BY loan_id) o""")
        for kind in ("wallet", "fund"):
            cur.execute(f"""
                INSERT INTO journals (key, day, kind, user_id, loan_id, amount)
                SELECT 'opening:{kind}:' || id, '{d1s}', 'opening', id, NULL, {kind}
                FROM users WHERE {kind} > 0""")
            cur.execute(f"""
                INSERT INTO postings (journal_key, account, owner, amount)
                SELECT 'opening:{kind}:' || u.id, x.account, x.owner, x.amount FROM users u
                CROSS JOIN LATERAL (VALUES ('opening_equity', NULL, u.{kind}),
                                           ('{kind}:' || u.id, u.id, -u.{kind}))
                     x(account, owner, amount)
                WHERE u.{kind} > 0""")
        for t in ("bench_loans", "bench_sched", "bench_template"):
            cur.execute(f"DROP TABLE {t}")
        cur.execute("VACUUM (ANALYZE)")
