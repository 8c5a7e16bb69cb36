"""a close row's catch-up target kept only in its column

Close rows written before 0004 kept their catch-up target in ``detail``
("target=YYYY-MM-DD", maybe followed by "; held users: ..."), and the cycle
parsed it back from there. The target moves to the ``target`` column and
``detail`` keeps only the rest, so nothing parses it any more.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:15:00
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

PREFIX = "target="


def upgrade() -> None:
    runs = sa.table('cycle_runs', sa.column('day', sa.Date()), sa.column('step', sa.String()),
                    sa.column('detail', sa.Text()), sa.column('target', sa.Date()))
    c = runs.c
    conn = op.get_bind()
    old = conn.execute(sa.select(c.day, c.detail).where(
        c.step == 'close', c.target.is_(None), c.detail.like(PREFIX + '%'))).all()
    for day, detail in old:
        target = date.fromisoformat(detail[len(PREFIX):len(PREFIX) + 10])
        rest = detail[len(PREFIX) + 10:].removeprefix(";").strip() or None
        conn.execute(sa.update(runs).where(c.day == day, c.step == 'close')
                     .values(target=target, detail=rest))


def downgrade() -> None:
    pass  # the target stays in its column, where 0004 and later read it
