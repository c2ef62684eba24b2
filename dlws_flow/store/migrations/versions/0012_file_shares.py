"""Shared file paths (Tapis Files share, share_public)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('file_shares',
    sa.Column('system_id', sa.String(length=80), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('shared_by', sa.String(length=64), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('system_id', 'path', 'username')
    )
    with op.batch_alter_table('file_shares', schema=None) as batch_op:
        batch_op.create_index('ix_file_shares_user', ['username', 'system_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('file_shares', schema=None) as batch_op:
        batch_op.drop_index('ix_file_shares_user')
    op.drop_table('file_shares')
