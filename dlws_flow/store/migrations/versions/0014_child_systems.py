"""Child systems (Tapis createChildSystem): a system's parent

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('systems', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.String(length=80), nullable=True))
        batch_op.create_index('ix_systems_parent_id', ['parent_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('systems', schema=None) as batch_op:
        batch_op.drop_index('ix_systems_parent_id')
        batch_op.drop_column('parent_id')
