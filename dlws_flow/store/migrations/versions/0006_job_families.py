"""DLWorkspace job families: one row per job, the root's token (hashed and encrypted)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_families',
    sa.Column('job_uuid', sa.String(length=64), nullable=False),
    sa.Column('root_uuid', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_uuid'], ['jobs.uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_uuid')
    )
    with op.batch_alter_table('job_families', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_families_root_uuid'), ['root_uuid'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_families_token_hash'), ['token_hash'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('job_families', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_families_token_hash'))
        batch_op.drop_index(batch_op.f('ix_job_families_root_uuid'))
    op.drop_table('job_families')
