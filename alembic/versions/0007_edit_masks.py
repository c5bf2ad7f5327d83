"""edit masks: the area a user painted for an edit, kept apart from generation_jobs

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One row per masked edit: a PNG (Base64) whose fully transparent pixels mark the area to change. A table of
    # its own, so listing jobs never reads it; it goes with its job.
    op.create_table(
        'job_masks',
        sa.Column('job_id', sa.Uuid(), nullable=False),
        sa.Column('mask_b64', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['generation_jobs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('job_id'),
    )


def downgrade() -> None:
    op.drop_table('job_masks')
