"""contacts: the digest of the record as pushed, its group attributes; tenants: contacts_version

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 08:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("contacts_version", sa.Integer(), server_default="0", nullable=False)
        )
    # Both columns start null: stored contacts are read in full on their next push, once.
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw_hash", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("group_attributes", sa.Text(), nullable=True))
        batch_op.create_index(
            "ix_contacts_tenant_id_raw_hash", ["tenant_id", "raw_hash"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_tenant_id_raw_hash")
        batch_op.drop_column("group_attributes")
        batch_op.drop_column("raw_hash")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("contacts_version")
