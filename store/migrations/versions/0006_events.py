"""events that say what happened: a per-registry delivery sequence, and what a delivery
reports (reason, message, expiry)

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('registries', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('delivery_sequence', sa.Integer(), nullable=False, server_default='0')
        )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sequence', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=False, server_default='{}'))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('details')
        batch_op.drop_column('sequence')
    with op.batch_alter_table('registries', schema=None) as batch_op:
        batch_op.drop_column('delivery_sequence')
