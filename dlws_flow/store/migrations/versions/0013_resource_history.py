"""The history of apps (every create, change, enable, lock, delete, permission change); systems use system_events

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'app_events',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('app_id', sa.String(length=80), nullable=False),
        sa.Column('app_version', sa.String(length=80), nullable=True),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=True),
        sa.Column('operation', sa.String(length=32), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_app_events_app_id', 'app_events', ['app_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_app_events_app_id', table_name='app_events')
    op.drop_table('app_events')
