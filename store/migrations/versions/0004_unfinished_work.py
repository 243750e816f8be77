"""unfinished work: what the reconciler needs to re-drive lost messages, and retries shown

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('envelope', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('redriven_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table('registries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('work_since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('crawl_since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('crawl_lease_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('retry_step', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('retry_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('retry_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('retry_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('registries', schema=None) as batch_op:
        for column in ('retry_at', 'retry_reason', 'retry_count', 'retry_step',
                       'crawl_lease_until', 'crawl_since', 'work_since'):
            batch_op.drop_column(column)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('waiting_since')
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_column('redriven_at')
        batch_op.drop_column('envelope')
