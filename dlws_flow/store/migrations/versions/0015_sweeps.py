"""Parameter sweeps (ours): the sweeps table and each job's sweep and place in it

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sweeps',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=64), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('request', sa.JSON(), nullable=False),
        sa.Column('element_count', sa.Integer(), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_sweeps_owner_created', 'sweeps', ['owner', 'created'], unique=False)
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sweep_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sweep_index', sa.Integer(), nullable=True))
        batch_op.create_index('ix_jobs_sweep_id', ['sweep_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_sweep_id')
        batch_op.drop_column('sweep_index')
        batch_op.drop_column('sweep_id')
    op.drop_index('ix_sweeps_owner_created', table_name='sweeps')
    op.drop_table('sweeps')
