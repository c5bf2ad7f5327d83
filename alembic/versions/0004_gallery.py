"""gallery: tags, albums, share links, soft delete, weighted search document, paging indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 22:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen copies of imagechat.models' definitions as of this revision (a migration never imports the models).
TAGS_TEXT_FUNCTION = """
CREATE OR REPLACE FUNCTION imagechat_tags_text(tags varchar[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT array_to_string(tags, ' ') $$
"""
SEARCH_DOCUMENT = (
    "setweight(to_tsvector('english'::regconfig, prompt), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(revised_prompt, '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, imagechat_tags_text(tags) || ' ' || album_names), 'C')"
)

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(TAGS_TEXT_FUNCTION)
    op.add_column('images', sa.Column('tags', postgresql.ARRAY(sa.String(length=40)),
                                      server_default=sa.text("'{}'::varchar[]"), nullable=False))
    op.add_column('images', sa.Column('album_names', sa.Text(), server_default='', nullable=False))
    op.add_column('images', sa.Column('search', postgresql.TSVECTOR(),
                                      sa.Computed(SEARCH_DOCUMENT, persisted=True), nullable=True))
    op.add_column('images', sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
    op.drop_index('ix_images_prompt_fts', table_name='images', postgresql_using='gin')
    op.drop_index('ix_images_owner_created', table_name='images')
    op.create_index('ix_images_owner_created_id', 'images', ['owner_id', 'created_at', 'id'], unique=False,
                    postgresql_where=sa.text('deleted_at IS NULL'))
    op.create_index('ix_images_deleted', 'images', ['deleted_at'], unique=False,
                    postgresql_where=sa.text('deleted_at IS NOT NULL'))
    op.create_index('ix_images_search', 'images', ['search'], unique=False, postgresql_using='gin')
    op.create_index('ix_images_tags', 'images', ['tags'], unique=False, postgresql_using='gin')
    op.create_index('ix_images_parent', 'images', ['parent_image_id'], unique=False)

    op.drop_index('ix_messages_conversation_created', table_name='messages')
    op.create_index('ix_messages_conversation_created_id', 'messages', ['conversation_id', 'created_at', 'id'],
                    unique=False)
    op.create_index('ix_messages_job', 'messages', ['job_id'], unique=False)
    op.create_index('ix_jobs_owner_status_created', 'generation_jobs', ['owner_id', 'status', 'created_at'],
                    unique=False)
    op.create_index('ix_jobs_prompt_fts', 'generation_jobs',
                    [sa.literal_column("to_tsvector('english'::regconfig, prompt)")], unique=False,
                    postgresql_using='gin')

    op.create_table('albums',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('cover_image_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cover_image_id'], ['images.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('uq_albums_owner_name', 'albums', ['owner_id', sa.literal_column('lower(name)')], unique=True)
    op.create_table('album_images',
    sa.Column('album_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Uuid(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['album_id'], ['albums.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('album_id', 'image_id')
    )
    op.create_index(op.f('ix_album_images_image_id'), 'album_images', ['image_id'], unique=False)
    op.create_table('share_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('image_id', sa.Uuid(), nullable=True),
    sa.Column('album_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('views', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_viewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(image_id IS NULL) <> (album_id IS NULL)', name='ck_share_links_one_target'),
    sa.ForeignKeyConstraint(['album_id'], ['albums.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token')
    )
    op.create_index('ix_share_links_owner_created', 'share_links', ['owner_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_share_links_owner_created', table_name='share_links')
    op.drop_table('share_links')
    op.drop_index(op.f('ix_album_images_image_id'), table_name='album_images')
    op.drop_table('album_images')
    op.drop_index('uq_albums_owner_name', table_name='albums')
    op.drop_table('albums')
    op.drop_index('ix_jobs_prompt_fts', table_name='generation_jobs', postgresql_using='gin')
    op.drop_index('ix_jobs_owner_status_created', table_name='generation_jobs')
    op.drop_index('ix_messages_job', table_name='messages')
    op.drop_index('ix_messages_conversation_created_id', table_name='messages')
    op.create_index('ix_messages_conversation_created', 'messages', ['conversation_id', 'created_at'], unique=False)
    op.drop_index('ix_images_parent', table_name='images')
    op.drop_index('ix_images_tags', table_name='images', postgresql_using='gin')
    op.drop_index('ix_images_search', table_name='images', postgresql_using='gin')
    op.drop_index('ix_images_deleted', table_name='images')
    op.drop_index('ix_images_owner_created_id', table_name='images')
    op.create_index('ix_images_owner_created', 'images', ['owner_id', 'created_at'], unique=False)
    op.create_index('ix_images_prompt_fts', 'images', [sa.literal_column("to_tsvector('english', prompt)")],
                    unique=False, postgresql_using='gin')
    op.drop_column('images', 'deleted_at')
    op.drop_column('images', 'search')
    op.drop_column('images', 'album_names')
    op.drop_column('images', 'tags')
    op.execute('DROP FUNCTION IF EXISTS imagechat_tags_text(varchar[])')
