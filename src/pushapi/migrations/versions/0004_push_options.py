"""push_log: rejected and dry_run (SPEC 3.2); idempotency_keys, the answers kept for
Idempotency-Key

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 04:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("push_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rejected", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("dry_run", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "idempotency_key", name="pk_idempotency_keys"),
    )
    op.create_index(
        "ix_idempotency_keys_tenant_id_expires_at",
        "idempotency_keys",
        ["tenant_id", "expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_tenant_id_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("push_log", schema=None) as batch_op:
        batch_op.drop_column("dry_run")
        batch_op.drop_column("rejected")
