"""system_polls.poller_*: one self-scheduling poller per (system, login)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('system_polls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('poller_token', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('poller_run', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('poller_seen', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('system_polls', schema=None) as batch_op:
        batch_op.drop_column('poller_seen')
        batch_op.drop_column('poller_run')
        batch_op.drop_column('poller_token')
