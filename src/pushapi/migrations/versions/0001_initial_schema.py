"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 04:53:15.433730
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "api_keys",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "key_id", name=op.f("pk_api_keys")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index("ix_api_keys_key_id", ["key_id"], unique=True)

    op.create_table(
        "contacts",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.String(length=256), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "contact_id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contacts_tenant_id_updated_at", ["tenant_id", "updated_at"], unique=False
        )

    op.create_table(
        "groups",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=256), nullable=False),
        sa.Column("group_name", sa.String(length=4000), nullable=True),
        sa.Column("group_type", sa.String(length=4000), nullable=True),
        sa.Column("group_sub_type", sa.String(length=4000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "group_id", name=op.f("pk_groups")),
    )
    op.create_table(
        "memberships",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.String(length=256), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=4000), nullable=True),
        sa.Column("initial_join_date", sa.String(length=24), nullable=True),
        sa.Column("begin_date", sa.String(length=24), nullable=True),
        sa.Column("end_date", sa.String(length=24), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "contact_id", "position", name=op.f("pk_memberships")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(
            "ix_memberships_tenant_id_group_id", ["tenant_id", "group_id"], unique=False
        )

    op.create_table(
        "push_log",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("endpoint", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("warning_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "request_id", name=op.f("pk_push_log")),
    )
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("community_group_types", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("code", name=op.f("uq_tenants_code")),
    )


def downgrade() -> None:

    op.drop_table("tenants")
    op.drop_table("push_log")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_memberships_tenant_id_group_id")

    op.drop_table("memberships")
    op.drop_table("groups")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_tenant_id_updated_at")

    op.drop_table("contacts")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_api_keys_key_id")

    op.drop_table("api_keys")
