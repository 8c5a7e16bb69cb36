"""outbox batches and the keys of outbox rows

The relays (SPEC 14) deliver outbox rows in batches under an idempotency key that is
fixed, with its rows, before the first attempt: ``outbox_batches`` holds each batch's
key, outbox, date, delivery status, attempts, next attempt and send-window end;
``out_key`` on reminders, handoffs and bureau records (``notice_key`` on collection
cases, for the agency's ``recall`` and ``written_off`` records) names a row's batch.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.schema

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

KEYED = (('notifications', 'out_key'), ('bureau_records', 'out_key'),
         ('handoffs', 'out_key'))


def upgrade() -> None:
    op.create_table(
        'outbox_batches',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('outbox', sa.String(length=120), nullable=False),
        sa.Column('day', sa.Date(), nullable=True),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=12), server_default='pending', nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_attempt_at', store.schema.Instant(timezone=True), nullable=False),
        sa.Column('expires_at', store.schema.Instant(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('copies', sa.Integer(), server_default='0', nullable=False),
        sa.Column('created_at', store.schema.Instant(timezone=True), nullable=False),
        sa.Column('delivered_at', store.schema.Instant(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'dead', 'expired')",
                           name=op.f('ck_outbox_batches_status_known')),
        sa.CheckConstraint('attempts >= 0 AND rows >= 0 AND copies >= 0',
                           name=op.f('ck_outbox_batches_counts')),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_outbox_batches')),
    )
    op.create_index('ix_outbox_batches_status_next', 'outbox_batches',
                    ['status', 'next_attempt_at'])
    op.create_index('ix_outbox_batches_outbox_status', 'outbox_batches', ['outbox', 'status'])
    for table, column in KEYED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(column, sa.String(length=200), nullable=True))
            batch_op.create_index(f'ix_{table}_{column}', [column])
    with op.batch_alter_table('collection_cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_key', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_collection_cases_notice_key', ['notice_key', 'closed_on'])


def downgrade() -> None:
    with op.batch_alter_table('collection_cases', schema=None) as batch_op:
        batch_op.drop_index('ix_collection_cases_notice_key')
        batch_op.drop_column('notice_key')
    for table, column in reversed(KEYED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_{column}')
            batch_op.drop_column(column)
    op.drop_index('ix_outbox_batches_outbox_status', table_name='outbox_batches')
    op.drop_index('ix_outbox_batches_status_next', table_name='outbox_batches')
    op.drop_table('outbox_batches')
