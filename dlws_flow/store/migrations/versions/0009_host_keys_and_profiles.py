"""Host keys trusted on first use (the key a changed host offered), system history, scheduler profiles

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('systems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offered_host_key', sa.Text(), nullable=True))
    op.create_table(
        'system_events',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('system_id', sa.String(length=80), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=True),
        sa.Column('operation', sa.String(length=32), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_system_events_system_id', 'system_events', ['system_id'], unique=False)
    op.create_table(
        'scheduler_profiles',
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=64), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('module_loads', sa.JSON(), nullable=False),
        sa.Column('hidden_options', sa.JSON(), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('scheduler_profiles')
    op.drop_index('ix_system_events_system_id', table_name='system_events')
    op.drop_table('system_events')
    with op.batch_alter_table('systems', schema=None) as batch_op:
        batch_op.drop_column('offered_host_key')
