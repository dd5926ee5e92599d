"""tenant_state: what pushes move on (contacts_version, change_seq), out of tenants

`tenants` is then written by the operator only, so that when distributed (Citus) it can be a
reference table that no push locks; `tenant_state` is distributed by tenant like the data.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 08:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_state",
        sa.Column("tenant_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("contacts_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenant_state"),
    )
    op.execute(
        "INSERT INTO tenant_state (tenant_id, contacts_version, change_seq) "
        "SELECT tenant_id, contacts_version, change_seq FROM tenants"
    )
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("change_seq")
        batch_op.drop_column("contacts_version")


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("contacts_version", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE tenants SET contacts_version = (SELECT s.contacts_version FROM tenant_state s "
        "WHERE s.tenant_id = tenants.tenant_id), change_seq = (SELECT s.change_seq "
        "FROM tenant_state s WHERE s.tenant_id = tenants.tenant_id)"
    )
    op.drop_table("tenant_state")
