"""count polls per (system, login)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('system_polls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('poll_count', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('system_polls', schema=None) as batch_op:
        batch_op.drop_column('poll_count')
