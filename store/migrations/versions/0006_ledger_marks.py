"""ledger marks: the nightly proof reads only an account's new postings

Postings get ``seq``, the order they were written in (an identity on
PostgreSQL; on SQLite the rowid, copied by a trigger),
indexed with the owner; ``ledger_marks`` keeps, per account, the sum of its
postings up to the last one a nightly proof found true.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    seq = (sa.Column('seq', sa.BigInteger(), sa.Identity()) if postgresql
           else sa.Column('seq', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.add_column(seq)
    if not postgresql:  # no identity outside the primary key: the rowid, by a trigger
        op.execute("UPDATE postings SET seq = rowid")
        op.execute("CREATE TRIGGER postings_seq AFTER INSERT ON postings WHEN NEW.seq IS NULL "
                   "BEGIN UPDATE postings SET seq = NEW.rowid WHERE rowid = NEW.rowid; END")
    op.drop_index('ix_postings_owner', table_name='postings')
    op.create_index('ix_postings_owner_seq', 'postings', ['owner', 'seq'])
    op.create_table(
        'ledger_marks',
        sa.Column('owner', sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('upto', sa.BigInteger(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.CheckConstraint("kind IN ('loan', 'wallet', 'fund')",
                           name=op.f('ck_ledger_marks_kind_known')),
        sa.PrimaryKeyConstraint('owner', 'kind', name=op.f('pk_ledger_marks')),
    )


def downgrade() -> None:
    op.drop_table('ledger_marks')
    if op.get_bind().dialect.name != 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS postings_seq")
    op.drop_index('ix_postings_owner_seq', table_name='postings')
    op.create_index('ix_postings_owner', 'postings', ['owner'])
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.drop_column('seq')
