"""journal keys widened to 300 characters: a recorded money event's key fits

A caller's event key may be 200 characters (SPEC 13, docs/DECISIONS.md "Keys"), and the
journals of a recorded event carry it with a prefix and, for a repayment's interest
adjustment, a suffix: ``wallet_topup:rec:<key>`` (217), ``repay:rec:<key>:interest:<loan
id>`` (up to 284). ``journals.key`` and ``postings.journal_key`` were 200, so PostgreSQL
refused such an event at its COPY (a traceback instead of the recording). On PostgreSQL a
varchar widened is a catalog change (no table or index is rewritten). SQLite does not
hold a varchar to its length, so its tables are left as they are (rebuilding the ledger's
two largest tables to change a declaration it ignores).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 17:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

COLUMNS = (('journals', 'key'), ('postings', 'journal_key'))


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, existing_type=sa.String(length=200),
                        type_=sa.String(length=300), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, column in reversed(COLUMNS):
        op.alter_column(table, column, existing_type=sa.String(length=300),
                        type_=sa.String(length=200), existing_nullable=False)
