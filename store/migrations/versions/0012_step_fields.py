"""step names in the cycle rows as typed fields: step, at, run

``cycle_runs``, ``chunk_runs`` and ``held_users`` named a step by a label the
code parsed apart: ``deduct``, ``deduct@0600`` (a daytime attempt),
``limit#release`` (a release of held users replaying it),
``deduct@0600#release``. The label becomes three fields: ``step`` (a name of
the step table only, or ``close`` for a date's own row), ``at`` (the attempt's
``HHMM``; '' for the close of business) and ``run`` (``night`` or
``release``), in the primary keys where the label was. Old rows are split in
one UPDATE per table; the step names are written out here, as they were at
this revision.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 04:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

STEPS = ('deduct', 'overdue', 'score', 'limit', 'collect', 'handoff', 'reconcile',
         'reconcile_close', 'bureau_file')
CLOSE = 'close'
RUNS = ('night', 'release')
RELEASE = '#release'  # a label's run suffix
ATTEMPT = 'deduct@'  # a label's daytime attempt: deduct@HHMM
CHECKS = ('step_known', 'run_known', 'attempt_of_a_deduction')


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _checks(batch: BatchOperations, table: str, names: tuple[str, ...]) -> None:
    known, run, attempt = (op.f(f'ck_{table}_{name}') for name in CHECKS)
    batch.create_check_constraint(known, f"step IN ({_names(names)})")
    batch.create_check_constraint(run, f"run IN ({_names(RUNS)})")
    batch.create_check_constraint(attempt, "at = '' OR (step = 'deduct' AND length(at) = 4)")


def _split(table: str) -> None:
    """Every old label of ``table`` into its fields, in one statement (set-based)."""
    t = sa.table(table, sa.column('step', sa.String()), sa.column('at', sa.String()),
                 sa.column('run', sa.String()))
    label = t.c.step
    released = label.like('%' + RELEASE)
    base = sa.case((released, sa.func.substr(label, 1, sa.func.length(label) - len(RELEASE))),
                   else_=label)
    attempt = base.like(ATTEMPT + '%')
    op.execute(sa.update(t).values(
        step=sa.case((attempt, 'deduct'), else_=base),
        at=sa.case((attempt, sa.func.substr(base, len(ATTEMPT) + 1, 4)), else_=''),
        run=sa.case((released, 'release'), else_='night')))


# table: its primary key after the split (None: the step is not in it), the names it holds
TABLES: dict[str, tuple[list[str] | None, tuple[str, ...]]] = {
    'cycle_runs': (['day', 'step', 'at', 'run'], (*STEPS, CLOSE)),
    'chunk_runs': (['day', 'step', 'at', 'run', 'chunk_no'], STEPS),
    'held_users': (None, STEPS),  # its key is (day, user_id)
}


def upgrade() -> None:
    for table, (key, names) in TABLES.items():
        # The fields join the key first (every old label is '' and 'night' there, so the
        # key stays unique), then the labels are split, then the names are checked.
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('at', sa.String(length=4), nullable=False,
                                       server_default=''))
            batch.add_column(sa.Column('run', sa.String(length=8), nullable=False,
                                       server_default='night'))
            if key is not None:
                batch.drop_constraint(f'pk_{table}', type_='primary')
                batch.create_primary_key(f'pk_{table}', key)
        _split(table)
        with op.batch_alter_table(table) as batch:
            _checks(batch, table, names)


def downgrade() -> None:
    for table, key in (('cycle_runs', ['day', 'step']),
                       ('chunk_runs', ['day', 'step', 'chunk_no']),
                       ('held_users', None)):
        t = sa.table(table, sa.column('step', sa.String()), sa.column('at', sa.String()),
                     sa.column('run', sa.String()))
        with op.batch_alter_table(table) as batch:
            for name in CHECKS:
                batch.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
        at = sa.case((t.c.at != '', '@' + t.c.at), else_='')
        run = sa.case((t.c.run == 'release', RELEASE), else_='')
        op.execute(sa.update(t).values(step=t.c.step + at + run))
        with op.batch_alter_table(table) as batch:
            if key is not None:
                batch.drop_constraint(f'pk_{table}', type_='primary')
                batch.create_primary_key(f'pk_{table}', key)
            batch.drop_column('run')
            batch.drop_column('at')
