"""Sweeps launched as one Slurm job array: how a sweep launches, its throttle and arrays, and which jobs the
array drives

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sweeps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('launch', sa.String(length=16), server_default='jobs', nullable=False))
        batch_op.add_column(sa.Column('throttle', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('arrays', sa.JSON(), nullable=True))
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('in_array', sa.Boolean(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('in_array')
    with op.batch_alter_table('sweeps', schema=None) as batch_op:
        batch_op.drop_column('arrays')
        batch_op.drop_column('throttle')
        batch_op.drop_column('launch')
