"""Transfer tasks with their elements, and PostIts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _times() -> list[sa.Column]:
    return [sa.Column('created', sa.DateTime(timezone=True), nullable=False),
            sa.Column('start_time', sa.DateTime(timezone=True), nullable=True),
            sa.Column('end_time', sa.DateTime(timezone=True), nullable=True)]


def upgrade() -> None:
    op.create_table(
        'transfer_tasks',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('uuid', sa.String(length=64), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('tag', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('error_message', sa.Text(), nullable=True),
        *_times(),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uuid'),
    )
    op.create_index('ix_transfer_tasks_user_created', 'transfer_tasks', ['username', 'created'], unique=False)
    op.create_table(
        'transfer_parents',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('uuid', sa.String(length=64), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('source_uri', sa.Text(), nullable=False),
        sa.Column('destination_uri', sa.Text(), nullable=False),
        sa.Column('optional', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('total_bytes', sa.BigInteger(), nullable=False),
        sa.Column('bytes_transferred', sa.BigInteger(), nullable=False),
        sa.Column('error_message', sa.Text(), nullable=True),
        sa.Column('lease_holder', sa.String(length=64), nullable=True),
        sa.Column('lease_expires', sa.DateTime(timezone=True), nullable=True),
        sa.Column('runs', sa.Integer(), nullable=False),
        *_times(),
        sa.ForeignKeyConstraint(['task_id'], ['transfer_tasks.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uuid'),
    )
    op.create_index('ix_transfer_parents_task_id', 'transfer_parents', ['task_id'], unique=False)
    op.create_index('ix_transfer_parents_status', 'transfer_parents', ['status'], unique=False)
    op.create_table(
        'transfer_children',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('uuid', sa.String(length=64), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('source_uri', sa.Text(), nullable=False),
        sa.Column('destination_uri', sa.Text(), nullable=False),
        sa.Column('relative', sa.Text(), nullable=False),
        sa.Column('dir', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('total_bytes', sa.BigInteger(), nullable=False),
        sa.Column('bytes_transferred', sa.BigInteger(), nullable=False),
        sa.Column('retries', sa.Integer(), nullable=False),
        sa.Column('error_message', sa.Text(), nullable=True),
        *_times(),
        sa.ForeignKeyConstraint(['parent_id'], ['transfer_parents.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('uuid'),
    )
    op.create_index('ix_transfer_children_parent_id', 'transfer_children', ['parent_id'], unique=False)
    op.create_table(
        'postits',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=64), nullable=False),
        sa.Column('system_id', sa.String(length=80), nullable=False),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('allowed_uses', sa.Integer(), nullable=False),
        sa.Column('times_used', sa.Integer(), nullable=False),
        sa.Column('jwt_user', sa.String(length=64), nullable=False),
        sa.Column('jwt_tenant', sa.String(length=64), nullable=False),
        sa.Column('expiration', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_postits_owner', 'postits', ['owner'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_postits_owner', table_name='postits')
    op.drop_table('postits')
    op.drop_index('ix_transfer_children_parent_id', table_name='transfer_children')
    op.drop_table('transfer_children')
    op.drop_index('ix_transfer_parents_status', table_name='transfer_parents')
    op.drop_index('ix_transfer_parents_task_id', table_name='transfer_parents')
    op.drop_table('transfer_parents')
    op.drop_index('ix_transfer_tasks_user_created', table_name='transfer_tasks')
    op.drop_table('transfer_tasks')
