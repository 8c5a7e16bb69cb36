"""users.next_recalc without an index and pages 70% full: the night's user updates HOT

The limit step rewrites next_recalc for every user it recalculates (358,000 rows at 1M
users). With next_recalc in an index, every one of those updates wrote a new index
entry (into this index and the primary key), so none could be a heap-only (HOT)
update. The only reader of the index, the limit step's selection, reads one chunk's
id range (``id BETWEEN lo AND hi``, the primary key) and filters next_recalc there; it
never needed the index. The users' pages are filled to 70% (PostgreSQL), so that a
page has room for the new versions of the rows a night updates: a full page forces
the new version onto another page, which is not HOT either. Existing pages keep their
rows until rewritten (VACUUM FULL or CLUSTER). ``creditcycle bench --profile`` at
100,000 users: the night's users updates were HOT for 3% with the index, 19% without
it, 58% without it on pages 70% full (the same rows changed in all three).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 03:55:00
"""
from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_next_recalc')
    if op.get_context().dialect.name == 'postgresql':
        op.execute("ALTER TABLE users SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_context().dialect.name == 'postgresql':
        op.execute("ALTER TABLE users RESET (fillfactor)")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_next_recalc', ['next_recalc', 'id'], unique=False)
