"""The console (SPEC 9): operators, sessions, per-day push counts, live contact counts

push_days and tenant_state.contact_count start from what the push log and the contacts hold.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenant_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("contact_count", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE tenant_state SET contact_count = (SELECT count(*) FROM contacts c "
        "WHERE c.tenant_id = tenant_state.tenant_id AND NOT c.is_deleted)"
    )
    op.create_table(
        "push_days",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("pushes", sa.Integer(), nullable=False),
        sa.Column("refused_pushes", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "day", name="pk_push_days"),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    day = "date(received_at)" if sqlite else "(received_at AT TIME ZONE 'UTC')::date"
    op.execute(
        "INSERT INTO push_days (tenant_id, day, pushes, refused_pushes, created, updated, "
        "deleted, unchanged, rejected) "
        f"SELECT tenant_id, {day}, count(*), "
        "sum(CASE WHEN status = 200 THEN 0 ELSE 1 END), "
        "sum(CASE WHEN dry_run THEN 0 ELSE created END), "
        "sum(CASE WHEN dry_run THEN 0 ELSE updated END), "
        "sum(CASE WHEN dry_run THEN 0 ELSE deleted END), "
        "sum(CASE WHEN dry_run THEN 0 ELSE unchanged END), "
        "sum(CASE WHEN dry_run THEN 0 WHEN status = 200 THEN rejected ELSE received END) "
        f"FROM push_log GROUP BY tenant_id, {day}"
    )
    op.create_table(
        "operators",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_operators"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=True),
        sa.Column("tenant_code", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_console_sessions"),
    )


def downgrade() -> None:
    op.drop_table("console_sessions")
    op.drop_table("operators")
    op.drop_table("push_days")
    with op.batch_alter_table("tenant_state", schema=None) as batch_op:
        batch_op.drop_column("contact_count")
