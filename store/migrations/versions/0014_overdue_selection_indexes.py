"""loans by disbursement date and user, and the loans in collection: the overdue and
collection steps read only their candidates

Both steps chose a chunk's loans by walking every loan of the chunk's user range and
testing each row (``falls_due_on``: day of the month, months since disbursement, term,
in numeric arithmetic). Each arm of their selections now has an index within the
user range: (user_id, dpd), (user_id, next_due), (disbursed, user_id) for the dates a
loan can fall due from, and a partial index of the loans in collection (stage
``internal`` or ``agency``), whose stage rarely changes. ``disbursed`` never changes,
so neither index costs the night's updates their HOT chance beyond what a loan whose
stage moves pays.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 16:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

IN_COLLECTION = "collection_stage IN ('internal', 'agency')"


def upgrade() -> None:
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.create_index('ix_loans_disbursed_user', ['disbursed', 'user_id'], unique=False)
        batch_op.create_index('ix_loans_user_in_collection', ['user_id'], unique=False,
                              postgresql_where=sa.text(IN_COLLECTION),
                              sqlite_where=sa.text(IN_COLLECTION))


def downgrade() -> None:
    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_index('ix_loans_user_in_collection')
        batch_op.drop_index('ix_loans_disbursed_user')
