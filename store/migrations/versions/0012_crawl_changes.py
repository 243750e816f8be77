"""what the last crawl changed, kept for people to see

Revision ID: 0012
Revises: 0009
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('registries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_changes', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('registries', schema=None) as batch_op:
        batch_op.drop_column('last_changes')
