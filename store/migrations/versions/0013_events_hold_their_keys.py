"""a recorded event's key, digest and outcome on its events row: recorded_keys merged in

Every event ``events.record`` accepts had two rows written in one transaction: its
``events`` row (key ``rec:<key>``) and its ``recorded_keys`` row (the caller's key, the
digest of what was sent, when it was recorded and its outcome). The second row now lives
on the first as three columns, ``digest``, ``at`` and ``outcome`` (NULL for the events a
scenario, a repayment or a draw recorded: they have no digest), and ``key`` is widened
to 210 characters: a caller's key may be 200 long, and ``rec:`` comes before it. Old
keys move in one statement; a key without its events row (none is written so, but a
row is never dropped by a migration) gets one of its own, dated by its recording
instant, without payload.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 07:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.schema

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

PREFIX = 'rec:'  # an events row's key for the caller's key k is 'rec:' || k


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('at', store.schema.Instant(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=40), nullable=True))
        batch_op.alter_column('key', existing_type=sa.String(length=200),
                              type_=sa.String(length=210), existing_nullable=True)
    # Plain SQL on PostgreSQL and SQLite (3.33+ has UPDATE ... FROM); a SQLite instant is
    # text, whose date is date(), not a CAST.
    day = 'date(k.at)' if op.get_bind().dialect.name == 'sqlite' else 'CAST(k.at AS DATE)'
    op.execute(f"UPDATE events SET digest = k.digest, at = k.at, outcome = k.outcome "  # noqa: S608 - constants only
               f"FROM recorded_keys AS k WHERE events.key = '{PREFIX}' || k.key")
    op.execute(f"INSERT INTO events (day, user_id, kind, key, payload, digest, at, outcome) "  # noqa: S608 - constants only
               f"SELECT {day}, k.user_id, k.kind, '{PREFIX}' || k.key, NULL, "
               f"k.digest, k.at, k.outcome FROM recorded_keys AS k WHERE NOT EXISTS "
               f"(SELECT 1 FROM events AS e WHERE e.key = '{PREFIX}' || k.key)")
    op.drop_table('recorded_keys')


def downgrade() -> None:
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
    op.execute(f"INSERT INTO recorded_keys (key, digest, at, user_id, kind, outcome) "  # noqa: S608 - constants only
               f"SELECT substr(key, {len(PREFIX) + 1}), digest, at, user_id, kind, outcome "
               f"FROM events WHERE digest IS NOT NULL")
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.alter_column('key', existing_type=sa.String(length=210),
                              type_=sa.String(length=200), existing_nullable=True)
        batch_op.drop_column('outcome')
        batch_op.drop_column('at')
        batch_op.drop_column('digest')
