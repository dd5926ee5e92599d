"""lists, list members, meetings and products

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _document_table(name: str, id_column: str) -> None:
    op.create_table(
        name,
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column(id_column, sa.String(length=256), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", id_column, name=op.f(f"pk_{name}")),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(
            f"ix_{name}_tenant_id_updated_at", ["tenant_id", "updated_at"], unique=False
        )


def upgrade() -> None:
    op.create_table(
        "lists",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.String(length=256), nullable=False),
        sa.Column("list_name", sa.String(length=4000), nullable=False),
        sa.Column("list_type", sa.String(length=4000), nullable=True),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "list_id", name=op.f("pk_lists")),
    )
    op.create_table(
        "list_members",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.String(length=256), nullable=False),
        sa.Column("contact_id", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "list_id", "contact_id", name=op.f("pk_list_members")),
    )
    _document_table("meetings", "meeting_id")
    _document_table("products", "product_id")


def downgrade() -> None:
    for name in ("products", "meetings"):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{name}_tenant_id_updated_at")
        op.drop_table(name)
    op.drop_table("list_members")
    op.drop_table("lists")
