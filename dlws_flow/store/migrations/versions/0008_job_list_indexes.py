"""Job list indexes that also cover the uuid tie-break, and one for lists across all owners

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_owner_created')
        batch_op.create_index('ix_jobs_owner_created', ['owner', 'created', 'uuid'], unique=False)
        batch_op.create_index('ix_jobs_created', ['created', 'uuid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_created')
        batch_op.drop_index('ix_jobs_owner_created')
        batch_op.create_index('ix_jobs_owner_created', ['owner', 'created'], unique=False)
