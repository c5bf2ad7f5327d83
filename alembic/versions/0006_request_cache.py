"""request cache and batch focus: answer an identical request from the library; continue from one image

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 02:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # sha256 of the normalised request (core/cache.request_key); NULL for edits and explicit seeds.
    op.add_column('generation_jobs', sa.Column('request_key', sa.String(length=64), nullable=True))
    op.create_index('ix_jobs_owner_request_key', 'generation_jobs', ['owner_id', 'request_key', 'created_at'],
                    postgresql_where=sa.text("request_key IS NOT NULL AND status = 'succeeded'"))
    # An assistant reply that answered with images already in the library (no new generation).
    op.add_column('messages', sa.Column('from_library', sa.Boolean(), server_default=sa.false(), nullable=False))
    # "Continue from this one": the image of a batch the next change refers to (core/conversations.last_image).
    op.add_column('conversations', sa.Column('focus_image_id', sa.Uuid(), nullable=True))
    op.add_column('conversations', sa.Column('focus_set_at', sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key('conversations_focus_image_id_fkey', 'conversations', 'images', ['focus_image_id'], ['id'],
                          ondelete='SET NULL')


def downgrade() -> None:
    op.drop_constraint('conversations_focus_image_id_fkey', 'conversations', type_='foreignkey')
    op.drop_column('conversations', 'focus_set_at')
    op.drop_column('conversations', 'focus_image_id')
    op.drop_column('messages', 'from_library')
    op.drop_index('ix_jobs_owner_request_key', table_name='generation_jobs')
    op.drop_column('generation_jobs', 'request_key')
