"""commands end with their effect: proposals name their command, commands are found by registry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('registry_updates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('command_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commands_registry_id'), ['registry_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commands_registry_id'))
    with op.batch_alter_table('registry_updates', schema=None) as batch_op:
        batch_op.drop_column('command_id')
