"""webhooks: subscriptions to the change feed and the state of their delivery (SPEC 8)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 05:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "webhooks",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("types", sa.Text(), nullable=True),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("delivered_seq", sa.BigInteger(), nullable=False),
        sa.Column("batch_last", sa.BigInteger(), nullable=True),
        sa.Column("batch_at", when, nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", when, nullable=True),
        sa.Column("failing_since", when, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", when, nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "webhook_id", name="pk_webhooks"),
    )


def downgrade() -> None:
    op.drop_table("webhooks")
