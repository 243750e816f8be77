"""catalog_tags: one index covering browsing and the re-crawl diff (repository, tag)

Revision ID: 0010
Revises: 0012
Create Date: 2026-11-27
"""
from alembic import op


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


def downgrade() -> None:
    with op.batch_alter_table('catalog_tags', schema=None) as batch_op:
        batch_op.create_index(
            'ix_catalog_tags_lookup', ['registry_id', 'generation', 'repository'], unique=False
        )
        batch_op.drop_index('ix_catalog_tags_pairs')
