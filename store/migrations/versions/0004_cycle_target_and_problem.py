"""a close's catch-up target and its ledger problem, each in a column of its own

The close row kept its catch-up target in ``detail`` ("target=..."), where the
ledger proof also wrote what it found, and the one overwrote the other: a
broken ledger was shown as done. The target and the problem now have columns
of their own. Debits are found by the date they resolved on, so the nightly
proof of the bank clearing account reads that date's debits only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cycle_runs') as batch:
        batch.add_column(sa.Column('target', sa.Date(), nullable=True))
        batch.add_column(sa.Column('problem', sa.Text(), nullable=True))
    op.create_index('ix_bank_debits_resolved_on', 'bank_debits', ['resolved_on'])


def downgrade() -> None:
    op.drop_index('ix_bank_debits_resolved_on', table_name='bank_debits')
    with op.batch_alter_table('cycle_runs') as batch:
        batch.drop_column('problem')
        batch.drop_column('target')
