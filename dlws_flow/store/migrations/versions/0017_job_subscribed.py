"""jobs.subscribed: whether a status change has subscriptions to look for

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subscribed', sa.Boolean(), server_default='0', nullable=False))
    op.execute("UPDATE jobs SET subscribed = TRUE WHERE EXISTS "
               "(SELECT 1 FROM subscriptions WHERE subscriptions.job_uuid = jobs.uuid)")


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('subscribed')
