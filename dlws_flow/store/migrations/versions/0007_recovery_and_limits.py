"""BLOCKED recovery conditions, pause/resume fields, SSH connection slots

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resume_status', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('resume_stage', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('blocked_system_id', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('blocked_login', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('blocked_condition', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('pause_requested', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('remote_held', sa.Boolean(), server_default='0', nullable=False))
    op.create_table('recovery_conditions',
    sa.Column('system_id', sa.String(length=80), nullable=False),
    sa.Column('login_user', sa.String(length=64), nullable=False),
    sa.Column('condition', sa.String(length=32), nullable=False),
    sa.Column('probe_user', sa.String(length=64), nullable=False),
    sa.Column('first_blocked', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_probe', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('system_id', 'login_user', 'condition')
    )
    with op.batch_alter_table('recovery_conditions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_conditions_next_probe'), ['next_probe'], unique=False)
    op.create_table('ssh_slots',
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=True),
    sa.Column('expires', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_connect', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('host', 'port', 'slot')
    )


def downgrade() -> None:
    op.drop_table('ssh_slots')
    with op.batch_alter_table('recovery_conditions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_conditions_next_probe'))
    op.drop_table('recovery_conditions')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('remote_held')
        batch_op.drop_column('pause_requested')
        batch_op.drop_column('blocked_condition')
        batch_op.drop_column('blocked_login')
        batch_op.drop_column('blocked_system_id')
        batch_op.drop_column('resume_stage')
        batch_op.drop_column('resume_status')
