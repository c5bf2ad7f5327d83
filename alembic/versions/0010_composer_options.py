"""composer options remembered per user (core/preferences.py)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 15:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: never chosen; the composer starts from the defaults.
    op.add_column('users', sa.Column('composer_options', postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column('users', 'composer_options')
