"""The database schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Constraints carry the money rules the code must never break: a journal key is
unique, balances and paid amounts are never negative or above what is owed,
a penalty is accrued once per installment and day, a chunk completes once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from domain.steps import NIGHT_RUN, ROW_NAMES, RUNS, Step

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

Money = BigInteger


class Instant(TypeDecorator[datetime]):
    """A point in time, stored as UTC and read back aware (UTC) on every backend.

    SQLite has no time zones: SQLAlchemy writes an aware datetime's wall clock
    and drops its offset, so values written in different zones (a reminder
    window in the business zone, ``now()`` in the host's) would not compare.
    A naive value is taken as the host's local time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store in UTC (naive on SQLite, which keeps no zone)."""
        if value is None:
            return None
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Read back as an aware UTC time."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Ids sort as strings, byte-wise ("L10" before "L2"), on every backend.
ID = String(64).with_variant(String(64, collation="C"), "postgresql")

users = Table(
    "users", metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False, server_default=""),
    Column("phone", String(32), nullable=False, server_default=""),
    Column("birth_date", Date),
    Column("score", Integer, nullable=False),
    Column("credit_limit", Money, nullable=False),
    Column("limit_frozen", Boolean, nullable=False, server_default="0"),
    Column("closed", Boolean, nullable=False, server_default="0"),
    Column("wallet", Money, nullable=False, server_default="0"),
    Column("fund", Money, nullable=False, server_default="0"),
    Column("consent_wallet", Boolean, nullable=False, server_default="1"),
    Column("consent_card", Boolean, nullable=False, server_default="1"),
    Column("consent_fund", Boolean, nullable=False, server_default="1"),
    Column("card_blocked", Boolean, nullable=False, server_default="0"),
    Column("activity", JSON),
    Column("last_disbursed", Date),
    Column("last_external_overdue", Date),
    Column("last_increase", Date),
    Column("last_base", Money),
    Column("overdue_history_pending", Boolean, nullable=False, server_default="0"),
    Column("last_recalc", Date),
    Column("next_recalc", Date),
    Column("identity_verified", Boolean, nullable=False, server_default="1"),
    Column("identity_expires", Date),
    Column("card_token", String(100)),
    CheckConstraint("wallet >= 0", name="wallet_not_negative"),
    CheckConstraint("fund >= 0", name="fund_not_negative"),
    CheckConstraint("credit_limit >= 0", name="limit_not_negative"),
    # next_recalc has no index: the limit step rewrites it for a third of the users every
    # night, and an indexed column would keep every one of those updates from being HOT
    # (its selection reads a chunk's id range by the primary key and filters there).
    # A page keeps 30% free for the night's new row versions, so that they stay HOT.
    postgresql_with={"fillfactor": 70},
)

loans = Table(
    "loans", metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("principal", Money, nullable=False),
    Column("annual_rate_bp", Integer, nullable=False),
    Column("term_months", Integer, nullable=False),
    Column("disbursed", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("dpd", Integer, nullable=False, server_default="0"),
    Column("bucket", String(4), nullable=False, server_default="C"),
    Column("collection_stage", String(16), nullable=False, server_default="none"),
    Column("agency", String(100)),
    Column("on_hold", Boolean, nullable=False, server_default="0"),
    Column("episode_level", Integer, nullable=False, server_default="0"),
    Column("accrual_no", Integer, nullable=False, server_default="0"),
    Column("accrual_anchor", Date),
    Column("accrual_acc", Money, nullable=False, server_default="0"),
    Column("written_off_on", Date),
    Column("next_due", Date),
    CheckConstraint("principal > 0", name="principal_positive"),
    CheckConstraint("dpd >= 0", name="dpd_not_negative"),
    Index("ix_loans_user_next_due", "user_id", "next_due"),
    Index("ix_loans_user_dpd", "user_id", "dpd"),
    # The overdue and collection steps' selections (store.selection): loans whose
    # disbursement date can fall due on a date, one index range per candidate date for
    # a chunk's users (disbursed never changes: no cost to HOT updates); and the loans
    # in collection, a few, whose stage rarely changes.
    Index("ix_loans_disbursed_user", "disbursed", "user_id"),
    Index("ix_loans_user_in_collection", "user_id",
          postgresql_where=text("collection_stage IN ('internal', 'agency')"),
          sqlite_where=text("collection_stage IN ('internal', 'agency')")),
)

installments = Table(
    "installments", metadata,
    Column("loan_id", ID, ForeignKey("loans.id"), nullable=False),
    Column("no", Integer, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("principal", Money, nullable=False),
    Column("interest", Money, nullable=False),
    Column("penalty", Money, nullable=False, server_default="0"),
    Column("paid_principal", Money, nullable=False, server_default="0"),
    Column("paid_interest", Money, nullable=False, server_default="0"),
    Column("paid_penalty", Money, nullable=False, server_default="0"),
    Column("pending_penalty", Money, nullable=False, server_default="0"),
    Column("penalty_through", Date),
    PrimaryKeyConstraint("loan_id", "no"),
    CheckConstraint("paid_principal >= 0 AND paid_principal <= principal", name="principal_paid"),
    CheckConstraint("paid_interest >= 0 AND paid_interest <= interest", name="interest_paid"),
    CheckConstraint("paid_penalty >= 0 AND paid_penalty <= penalty", name="penalty_paid"),
    CheckConstraint("pending_penalty >= 0", name="pending_not_negative"),
    Index("ix_installments_due_date", "due_date"),
    Index("ix_installments_loan_due", "loan_id", "due_date"),
)

journals = Table(
    "journals", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    # 300: a recorded event's key (up to 200) with its prefix and suffix (migration 0015)
    Column("key", String(300), nullable=False, unique=True),
    Column("day", Date, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("user_id", ID),
    Column("loan_id", ID),
    Column("amount", Money, nullable=False),
    Index("ix_journals_day", "day"),
    Index("ix_journals_user_day", "user_id", "day"),
)

postings = Table(
    "postings", metadata,
    Column("journal_key", String(300), ForeignKey("journals.key"), nullable=False),
    Column("account", String(120), nullable=False),
    Column("owner", ID),
    Column("amount", Money, nullable=False),
    # The order postings were written in, for the nightly proof's per-account marks
    # (ledger_marks). PostgreSQL fills it from an identity; SQLite has no identity for
    # a column outside the primary key, so there the migration fills it from the rowid
    # with a trigger (migration 0006).
    Column("seq", BigInteger, Identity()),
    PrimaryKeyConstraint("journal_key", "account"),
    Index("ix_postings_account", "account"),
    Index("ix_postings_owner_seq", "owner", "seq"),
)

# What the nightly proof last found true of an account: the sum of its postings up to
# (and including) posting ``upto``. The next proof of that account adds only the postings
# written since, so its cost follows the night's work, not the account's history. The
# whole-ledger proof (weekly) re-sums everything and does not rely on these.
ledger_marks = Table(
    "ledger_marks", metadata,
    Column("owner", ID, nullable=False),
    Column("kind", String(16), nullable=False),  # loan | wallet | fund
    Column("amount", Money, nullable=False),
    Column("upto", BigInteger, nullable=False),
    Column("day", Date, nullable=False),  # the business date whose proof set it
    PrimaryKeyConstraint("owner", "kind"),
    CheckConstraint("kind IN ('loan', 'wallet', 'fund')", name="kind_known"),
)

penalty_accruals = Table(
    "penalty_accruals", metadata,
    Column("loan_id", ID, nullable=False),
    Column("no", Integer, nullable=False),
    Column("day", Date, nullable=False),
    Column("principal_base", Money, nullable=False),
    Column("amount", Money, nullable=False),
    Column("booked", Boolean, nullable=False),
    PrimaryKeyConstraint("loan_id", "no", "day"),
)

bank_debits = Table(
    "bank_debits", metadata,
    Column("key", String(200), primary_key=True),
    Column("user_id", ID, nullable=False),
    Column("day", Date, nullable=False),
    Column("attempt", String(8), nullable=False),
    Column("amount", Money, nullable=False),
    Column("status", String(12), nullable=False),
    Column("taken", Money, nullable=False, server_default="0"),
    Column("reason", String(40)),
    Column("resolved_on", Date),
    # The card asked (the user's token when the intent was made): a key is one card's debit.
    Column("card_token", String(100), nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("taken >= 0 AND taken <= amount", name="taken_within_amount"),
    Index("ix_bank_debits_user_status", "user_id", "status"),
    Index("ix_bank_debits_status_day", "status", "day"),
    Index("ix_bank_debits_resolved_on", "resolved_on"),
)

events = Table(
    "events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("day", Date, nullable=False),
    Column("user_id", ID, nullable=False),
    Column("kind", String(40), nullable=False),
    # ``rec:`` and the caller's key (up to 200) for an event ``events.record`` accepted,
    # which also has the digest of what was sent, when it was recorded and its outcome
    # (``applied`` or the refusal code); those three are NULL for the other events.
    Column("key", String(210), unique=True),
    Column("payload", JSON),
    Column("digest", String(64)),
    Column("at", Instant),
    Column("outcome", String(40)),
    Index("ix_events_day_user", "day", "user_id"),
)

loan_events = Table(
    "loan_events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("day", Date, nullable=False),
    Column("user_id", ID, nullable=False),
    Column("loan_id", ID),
    Column("kind", String(40), nullable=False),
    Column("detail", Integer, nullable=False, server_default="0"),
    UniqueConstraint("loan_id", "day", "kind", "detail", name="uq_loan_events_once"),
    Index("ix_loan_events_day_user", "day", "user_id"),
)

score_events = Table(
    "score_events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("day", Date, nullable=False),
    Column("user_id", ID, nullable=False),
    Column("loan_id", ID),
    Column("reason", String(40), nullable=False),
    Column("old", Integer, nullable=False),
    Column("new", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    UniqueConstraint("user_id", "day", "seq", name="uq_score_events_once"),
)

limit_events = Table(
    "limit_events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("day", Date, nullable=False),
    Column("user_id", ID, nullable=False),
    Column("old", Money, nullable=False),
    Column("new", Money, nullable=False),
    Column("reasons", String(300), nullable=False),
    UniqueConstraint("user_id", "day", name="uq_limit_events_once"),
)

notifications = Table(
    "notifications", metadata,
    Column("day", Date, nullable=False),
    Column("user_id", ID, nullable=False),
    Column("loan_id", ID, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("send_from", Instant, nullable=False),
    Column("send_until", Instant, nullable=False),
    Column("status", String(12), nullable=False, server_default="pending"),
    Column("out_key", String(200)),
    PrimaryKeyConstraint("loan_id", "day", "kind"),
    CheckConstraint("status IN ('pending', 'sent', 'expired')", name="status_known"),
    Index("ix_notifications_status_until", "status", "send_until"),
    Index("ix_notifications_out_key", "out_key"),
)

bureau_records = Table(
    "bureau_records", metadata,
    Column("day", Date, nullable=False),
    Column("user_id", ID, nullable=False),
    Column("loan_id", ID, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("out_key", String(200)),
    PrimaryKeyConstraint("loan_id", "day", "kind"),
    Index("ix_bureau_records_out_key", "out_key"),
)

agencies = Table(
    "agencies", metadata,
    Column("name", String(100), primary_key=True),
    Column("retired_at", Instant),
)

collection_cases = Table(
    "collection_cases", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("loan_id", ID, nullable=False),
    Column("user_id", ID, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("agency", String(100)),
    Column("opened_on", Date, nullable=False),
    Column("closed_on", Date),
    Column("outcome", String(16)),
    Column("paid_at_open", Money, nullable=False),
    Column("recovered", Money),
    Column("notice_key", String(200)),  # the batch of its recall/written_off record
    Index("ix_collection_cases_loan", "loan_id", "closed_on"),
    Index("ix_collection_cases_agency_open", "agency", "closed_on"),
    Index("ix_collection_cases_notice_key", "notice_key", "closed_on"),
)

handoffs = Table(
    "handoffs", metadata,
    Column("day", Date, nullable=False),
    Column("loan_id", ID, nullable=False),
    Column("agency", String(100)),
    Column("masked_name", String(100)),
    Column("masked_phone", String(32)),
    Column("contact_token", String(64)),
    Column("amount_owed", Money),
    Column("dpd", Integer, nullable=False),
    Column("out_key", String(200)),
    PrimaryKeyConstraint("loan_id", "day"),
    Index("ix_handoffs_out_key", "out_key"),
)

# One row per batch an outbox relay formed (SPEC 14): the key is fixed, with its rows
# (their ``out_key``), before the first attempt, so every attempt sends the same batch.
outbox_batches = Table(
    "outbox_batches", metadata,
    Column("key", String(200), primary_key=True),
    Column("outbox", String(120), nullable=False),
    Column("day", Date),
    Column("rows", Integer, nullable=False),
    Column("status", String(12), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Instant, nullable=False),
    Column("expires_at", Instant),
    Column("last_error", String(500)),
    Column("copies", Integer, nullable=False, server_default="0"),
    Column("created_at", Instant, nullable=False),
    Column("delivered_at", Instant),
    CheckConstraint("status IN ('pending', 'delivered', 'dead', 'expired')",
                    name="status_known"),
    CheckConstraint("attempts >= 0 AND rows >= 0 AND copies >= 0", name="counts"),
    Index("ix_outbox_batches_status_next", "status", "next_attempt_at"),
    Index("ix_outbox_batches_outbox_status", "outbox", "status"),
)

refusals = Table(
    "refusals", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("day", Date, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("user_id", ID, nullable=False),
    Column("loan_id", ID),
    Column("reason", String(40), nullable=False),
)

loan_applications = Table(
    "loan_applications", metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, nullable=False),
    Column("submitted_at", Instant, nullable=False),
    Column("status", String(24), nullable=False),
    Column("closed_at", Instant),
    Column("principal", Money),
    Column("annual_rate_bp", Integer),
    Column("term_months", Integer),
    Column("reason", String(40)),
    Index("ix_loan_applications_status", "status", "submitted_at"),
)


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _step_fields(names: tuple[str, ...]) -> list[Column[str] | CheckConstraint]:
    """A step key as typed fields (``domain.steps.StepKey``): the step, from the step
    table only; the daytime attempt it is (``HHMM``, a deduction's only; '' for the close
    of business); the run (the night's, or a release of held users replaying it)."""
    return [
        Column("step", String(24), nullable=False),
        Column("at", String(4), nullable=False, server_default=""),
        Column("run", String(8), nullable=False, server_default=NIGHT_RUN),
        CheckConstraint(f"step IN ({_names(names)})", name="step_known"),
        CheckConstraint(f"run IN ({_names(RUNS)})", name="run_known"),
        CheckConstraint(f"at = '' OR (step = '{Step.DEDUCT.value}' AND length(at) = 4)",
                        name="attempt_of_a_deduction"),
    ]


STEPS = tuple(s.value for s in Step)

cycle_runs = Table(
    "cycle_runs", metadata,
    Column("day", Date, nullable=False),
    *_step_fields(ROW_NAMES),  # a step of the date, or its close row (``close``)
    Column("status", String(24), nullable=False),
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False, server_default="0"),
    Column("started_at", Instant),
    Column("finished_at", Instant),
    Column("detail", Text),
    Column("target", Date),  # close rows: the date the catch-up runs to
    Column("problem", Text),  # close rows: what the ledger proof found broken
    PrimaryKeyConstraint("day", "step", "at", "run"),
)

cycle_chunks = Table(
    "cycle_chunks", metadata,
    Column("day", Date, nullable=False),
    Column("chunk_no", Integer, nullable=False),
    Column("lo", ID, nullable=False),
    Column("hi", ID, nullable=False),
    PrimaryKeyConstraint("day", "chunk_no"),
)

chunk_runs = Table(
    "chunk_runs", metadata,
    Column("day", Date, nullable=False),
    *_step_fields(STEPS),
    Column("chunk_no", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("phase", String(16)),
    Column("done_at", Instant),
    Column("rows", Integer),
    Column("seconds", Integer),
    Column("last_error", Text),
    Column("leased_at", Instant),
    PrimaryKeyConstraint("day", "step", "at", "run", "chunk_no"),
)

held_users = Table(
    "held_users", metadata,
    Column("day", Date, nullable=False),
    Column("user_id", ID, nullable=False),
    *_step_fields(STEPS),  # the step whose chunk held the user
    Column("chunk_no", Integer, nullable=False),
    Column("released_at", Instant),
    PrimaryKeyConstraint("day", "user_id"),
)

task_failures = Table(
    "task_failures", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("at", Instant, nullable=False),
    Column("task", String(100), nullable=False),
    Column("task_id", String(64)),
    Column("args", JSON),
    Column("error", Text, nullable=False),
)

rejections = Table(
    "rejections", metadata,
    Column("task_id", String(64), primary_key=True),
    Column("at", Instant, nullable=False),
    Column("task", String(100), nullable=False),
    Column("field", String(200), nullable=False),
    Column("reason", Text, nullable=False),
)

sim_bank_accounts = Table(
    "sim_bank_accounts", metadata,
    Column("user_id", ID, primary_key=True),
    Column("balance", Money, nullable=False),
    Column("invalid", Boolean, nullable=False, server_default="0"),
    Column("outage_day", Date),
    Column("timeout_day", Date),
    Column("timeout_resolves", String(12)),
    CheckConstraint("balance >= 0", name="balance_not_negative"),
)

sim_bank_requests = Table(
    "sim_bank_requests", metadata,
    Column("key", String(200), primary_key=True),
    Column("user_id", ID, nullable=False),
    Column("amount", Money, nullable=False),
    Column("outcome", String(12), nullable=False),
    Column("taken", Money, nullable=False),
    Column("reason", String(40)),
    Column("resolves", String(12)),
)
