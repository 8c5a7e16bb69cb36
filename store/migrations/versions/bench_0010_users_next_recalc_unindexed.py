"""users.next_recalc without an index: the limit step's user update becomes HOT

The limit step rewrites next_recalc for every user it recalculates (358,000 rows at 1M
users). With next_recalc in an index, every one of those updates wrote a new index
entry (into this index and the primary key), so none could be a heap-only (HOT)
update. The only reader of the index, the limit step's selection, reads one chunk's
id range (``id BETWEEN lo AND hi``, the primary key) and filters next_recalc there; it
never needed the index. Measured with ``creditcycle bench --profile`` (see the
closing note of issue 14).

Revision ID: bench_0010
Revises: 0009
Create Date: 2026-12-02 03:55:00
"""
from __future__ import annotations

from alembic import op

revision = 'bench_0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_next_recalc')


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_next_recalc', ['next_recalc', 'id'], unique=False)
