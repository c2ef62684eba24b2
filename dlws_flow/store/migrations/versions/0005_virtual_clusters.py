"""virtual clusters (quotas), members, per-job quota rows and OpenPAI jobs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    vcs = op.create_table('virtual_clusters',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('capacity', sa.Float(), nullable=False),
    sa.Column('max_capacity', sa.Float(), nullable=False),
    sa.Column('systems', sa.JSON(), nullable=False),
    sa.Column('admission_seq', sa.Integer(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('vc_members',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('vc_name', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['vc_name'], ['virtual_clusters.name'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('username', 'vc_name')
    )
    op.create_table('vc_jobs',
    sa.Column('job_uuid', sa.String(length=64), nullable=False),
    sa.Column('vc_name', sa.String(length=64), nullable=False),
    sa.Column('system_id', sa.String(length=80), nullable=False),
    sa.Column('cpu', sa.Integer(), nullable=False),
    sa.Column('memory_mb', sa.Integer(), nullable=False),
    sa.Column('gpu', sa.Integer(), nullable=False),
    sa.Column('admitted', sa.Boolean(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('admitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['job_uuid'], ['jobs.uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_uuid')
    )
    with op.batch_alter_table('vc_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_vc_jobs_vc_admitted', ['vc_name', 'admitted'], unique=False)
    op.create_table('openpai_jobs',
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('vc_name', sa.String(length=64), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('job_uuids', sa.JSON(), nullable=False),
    sa.Column('execution_type', sa.String(length=8), nullable=False),
    sa.Column('retries', sa.Integer(), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('private_key', sa.LargeBinary(), nullable=True),
    sa.Column('key_downloaded', sa.Boolean(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('owner', 'name')
    )
    # Every user may use ``default``; it starts with no systems (an admin assigns them).
    now = datetime.now(UTC)
    op.execute(vcs.insert().values(name='default', description='every user may submit here', capacity=100.0,
                                   max_capacity=100.0, systems=[], admission_seq=0, created=now, updated=now))


def downgrade() -> None:
    op.drop_table('openpai_jobs')
    with op.batch_alter_table('vc_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_vc_jobs_vc_admitted')
    op.drop_table('vc_jobs')
    op.drop_table('vc_members')
    op.drop_table('virtual_clusters')
