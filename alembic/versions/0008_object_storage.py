"""object storage: which store holds each image's bytes (PostgreSQL or an S3-compatible bucket)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 05:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every existing image keeps its bytes in image_data. A constant default: PostgreSQL adds the column without
    # rewriting the table.
    op.add_column('images', sa.Column('storage', sa.String(length=16), server_default='postgres', nullable=False))
    op.create_check_constraint('ck_images_storage', 'images', "storage IN ('postgres', 's3')")


def downgrade() -> None:
    # Dropping the column would forget where the bytes of images in a bucket are: refuse until they are back.
    moved = op.get_bind().execute(sa.text("SELECT count(*) FROM images WHERE storage <> 'postgres'")).scalar()
    if moved:
        raise RuntimeError(f"{moved} image(s) keep their bytes in the object store: bring them back first with "
                           "`python -m imagechat storage migrate --to postgres`, then downgrade")
    op.drop_constraint('ck_images_storage', 'images', type_='check')
    op.drop_column('images', 'storage')
