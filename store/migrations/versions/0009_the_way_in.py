"""the way in: identity and card token on users, applications with their loan, event keys

Users carry ``identity_verified``, ``identity_expires`` and the platform's opaque
``card_token`` (SPEC 12-13; never an ID or card number). An application keeps the
loan it asks for and the reason it was refused. ``recorded_keys`` holds the caller's
key of every recorded event with a digest of its content (KEY_REUSED).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.schema

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity_verified', sa.Boolean(), nullable=False,
                                      server_default='1'))
        batch_op.add_column(sa.Column('identity_expires', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('card_token', sa.String(length=100), nullable=True))
    with op.batch_alter_table('loan_applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('principal', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('annual_rate_bp', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('term_months', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=40), nullable=True))
    op.create_table(
        'recorded_keys',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('at', store.schema.Instant(timezone=True), nullable=False),
        sa.Column('user_id', sa.String(length=64).with_variant(
            sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('outcome', sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_recorded_keys')))


def downgrade() -> None:
    op.drop_table('recorded_keys')
    with op.batch_alter_table('loan_applications', schema=None) as batch_op:
        for column in ('reason', 'term_months', 'annual_rate_bp', 'principal'):
            batch_op.drop_column(column)
    with op.batch_alter_table('users', schema=None) as batch_op:
        for column in ('card_token', 'identity_expires', 'identity_verified'):
            batch_op.drop_column(column)
