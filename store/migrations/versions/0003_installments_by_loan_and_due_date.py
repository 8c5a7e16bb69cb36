"""installments by loan and due date

A chunk reads the installments of its loans that are due by the business
date (deduct, overdue) or on one date (due soon): with the due date in the
index, a loan's later or earlier installments are not read from the heap,
so the cost of a read follows what is due, not the loan's length.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 08:20:00
"""
from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_installments_loan_due', 'installments', ['loan_id', 'due_date'])


def downgrade() -> None:
    op.drop_index('ix_installments_loan_due', table_name='installments')
