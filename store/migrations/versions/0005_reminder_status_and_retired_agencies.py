"""reminder status and retired agencies

A reminder is pending, sent (handed to the notifier inside its window) or
expired (its window passed unsent): one status column instead of the flag
``sent``, indexed for the dispatch's reads of pending rows by window end. An
agency can be retired: it gets no new handoffs and keeps its open cases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.schema

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', store.schema.Instant(timezone=True),
                                      nullable=True))
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=12), nullable=False,
                                      server_default='pending'))
    op.execute("UPDATE notifications SET status = 'sent' WHERE sent")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('sent')
        batch_op.create_check_constraint(
            op.f('ck_notifications_status_known'), "status IN ('pending', 'sent', 'expired')")
        batch_op.create_index('ix_notifications_status_until', ['status', 'send_until'])


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_status_until')
        batch_op.drop_constraint(op.f('ck_notifications_status_known'), type_='check')
        batch_op.add_column(sa.Column('sent', sa.Boolean(), nullable=False,
                                      server_default='0'))
    op.execute("UPDATE notifications SET sent = (status = 'sent')")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('status')
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
