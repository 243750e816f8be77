"""catalog_tags: one index covering browsing and the re-crawl diff (repository, tag);
outbox: the relay's scan reads a partial index of the rows still to publish

Revision ID: 0010
Revises: 0012
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('catalog_tags', schema=None) as batch_op:
        batch_op.create_index(
            'ix_catalog_tags_pairs', ['registry_id', 'generation', 'repository', 'tag'], unique=False
        )
        batch_op.drop_index('ix_catalog_tags_lookup')
    unpublished = sa.text('published_at IS NULL')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(
            'ix_outbox_unpublished',
            ['created_at', 'id'],
            unique=False,
            postgresql_where=unpublished,
            sqlite_where=unpublished,
        )
        batch_op.drop_index('ix_outbox_published_at')


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_published_at', ['published_at'], unique=False)
        batch_op.drop_index('ix_outbox_unpublished')
    with op.batch_alter_table('catalog_tags', schema=None) as batch_op:
        batch_op.create_index(
            'ix_catalog_tags_lookup', ['registry_id', 'generation', 'repository'], unique=False
        )
        batch_op.drop_index('ix_catalog_tags_pairs')
