"""job_ssh_entries: running jobs whose OpenPAI key is installed on the exec host

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'job_ssh_entries',
        sa.Column('job_uuid', sa.String(length=64), nullable=False),
        sa.Column('system_id', sa.String(length=80), nullable=False),
        sa.Column('exec_dir', sa.Text(), nullable=False),
        sa.Column('verified', sa.Boolean(), nullable=True),
        sa.Column('problem', sa.Text(), nullable=True),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('job_uuid'),
    )


def downgrade() -> None:
    op.drop_table('job_ssh_entries')
