"""user limits: per-user daily and monthly budgets and image rate limit set by an administrator

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: the server-wide setting applies (USER_DAILY_BUDGET_USD, USER_MONTHLY_BUDGET_USD, RATE_LIMIT).
    op.add_column('users', sa.Column('daily_budget_usd', sa.Float(), nullable=True))
    op.add_column('users', sa.Column('monthly_budget_usd', sa.Float(), nullable=True))
    op.add_column('users', sa.Column('rate_limit', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('users', 'rate_limit')
    op.drop_column('users', 'monthly_budget_usd')
    op.drop_column('users', 'daily_budget_usd')
