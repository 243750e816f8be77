"""registry CA: a private CA bundle kept with a registry and with a proposed update

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('registries', 'registry_updates'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('ca_pem', sa.Text(), nullable=True))


def downgrade() -> None:
    for table in ('registry_updates', 'registries'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('ca_pem')
