"""crawl progress: when the running crawl started and what it has written so far

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('registries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('crawl_started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('crawl_seen_repositories', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('crawl_seen_tags', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('registries', schema=None) as batch_op:
        batch_op.drop_column('crawl_seen_tags')
        batch_op.drop_column('crawl_seen_repositories')
        batch_op.drop_column('crawl_started_at')
