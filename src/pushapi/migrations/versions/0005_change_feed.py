"""change_events, the change feed (SPEC 8); tenants.change_seq

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 05:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_table(
        "change_events",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "first_seq", name="pk_change_events"),
    )
    op.create_index(
        "ix_change_events_tenant_id_at", "change_events", ["tenant_id", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_change_events_tenant_id_at", table_name="change_events")
    op.drop_table("change_events")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("change_seq")
