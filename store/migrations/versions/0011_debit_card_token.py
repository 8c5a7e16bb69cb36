"""card debits keep the card they are of: ``bank_debits.card_token``

A debit is asked of the user's linked card by its token (SPEC 13-14), fixed when the
intent is made, so a key is always sent with the same card. Debits made before this
revision were sent with the user's id as the token (the adapter had no token then):
they keep that, so an intent still open is asked about as it was sent.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 04:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('bank_debits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_token', sa.String(length=100), nullable=True))
    op.execute("UPDATE bank_debits SET card_token = user_id")
    with op.batch_alter_table('bank_debits', schema=None) as batch_op:
        batch_op.alter_column('card_token', existing_type=sa.String(length=100),
                              nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('bank_debits', schema=None) as batch_op:
        batch_op.drop_column('card_token')
