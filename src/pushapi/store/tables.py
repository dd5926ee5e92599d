"""The tables. Every primary key starts with `tenant_id` (SPEC 7), so the schema distributes by
tenant and no query needs to cross tenants.

A contact is stored as one row holding its normalised document (what the read API returns) and a
hash of it, so an identical re-push is detected without reading or writing the document. Group
memberships are also kept as rows, because group reads ask "who is in this group".
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(DateTime(timezone=dialect.name != "sqlite"))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(256)
TEXT = String(4000)
DATE_TEXT = String(24)  # a normalised DateTime, yyyy-MM-ddTHH:mm:ss.fffZ; sorts as it compares

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("platform", String(32), nullable=False),
    Column("region", String(8), nullable=False),
    Column("community_group_types", Text, nullable=False),  # JSON array of GroupType values
    Column("created_at", UtcDateTime, nullable=False),
    # Distributed databases (store/distribute.py): held whole by every node.
    info={"citus": "reference"},
)

# What pushes move on, one row per tenant, apart from `tenants`: `tenants` and `api_keys` are
# read by every request and written only by the operator, so that when distributed (Citus)
# they can be reference tables that no push locks, while this table is distributed and
# co-located by tenant like the data (docs/operations.md, "Growing past one database").
tenant_state = Table(
    "tenant_state",
    metadata,
    Column("tenant_id", Integer, primary_key=True, autoincrement=False),
    # Moves on with every push that writes contacts: a push that finds it unmoved inside its
    # transaction knows the contacts it recognised before are still as they were.
    Column("contacts_version", Integer, nullable=False, server_default="0"),
    # The seq of the tenant's latest change event (SPEC 8); moved on under the tenant's lock.
    Column("change_seq", BigInteger, nullable=False, server_default="0"),
    # Stored contacts not deleted, moved on with contacts_version (the console's overview).
    Column("contact_count", BigInteger, nullable=False, server_default="0"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("tenant_id", Integer, primary_key=True),
    Column("key_id", String(32), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    Index("ix_api_keys_key_id", "key_id", unique=True),
    info={"citus": "reference"},  # a key is looked up by its id, before its tenant is known
)


def _document_table(name: str, id_column: str, *extra: Column[Any] | Index) -> Table:
    """A table of records stored whole, with a content hash and a soft-delete flag."""
    return Table(
        name,
        metadata,
        Column("tenant_id", Integer, primary_key=True),
        Column(id_column, ID, primary_key=True),
        Column("content_hash", String(32), nullable=False),
        Column("doc", Text, nullable=False),
        Column("is_deleted", Boolean, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
        Index(f"ix_{name}_tenant_id_updated_at", "tenant_id", "updated_at"),
        *extra,
    )


contacts = _document_table(
    "contacts",
    "contact_id",
    # The digest of the record's exact bytes as last written, when a re-push of those bytes
    # can be known unchanged without reading it again (store/contacts.py says when); else null.
    Column("raw_hash", String(32)),
    # What the group attributes of that record were: JSON [[GroupId, Name, Type, SubType], ...].
    Column("group_attributes", Text),
    Index("ix_contacts_tenant_id_raw_hash", "tenant_id", "raw_hash"),
)
meetings = _document_table("meetings", "meeting_id")
products = _document_table("products", "product_id")

# The columns of the group's own attributes (SPEC 4.1: kept on the group, not the membership).
GROUP_ATTRIBUTE_COLUMNS = {
    "GroupName": "group_name",
    "GroupType": "group_type",
    "GroupSubType": "group_sub_type",
}

groups = Table(
    "groups",
    metadata,
    Column("tenant_id", Integer, primary_key=True),
    Column("group_id", ID, primary_key=True),
    Column("group_name", TEXT),
    Column("group_type", TEXT),
    Column("group_sub_type", TEXT),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("tenant_id", Integer, primary_key=True),
    Column("contact_id", ID, primary_key=True),
    Column("position", Integer, primary_key=True),  # index in the contact's Groups array
    Column("group_id", ID, nullable=False),
    Column("role", TEXT),
    Column("initial_join_date", DATE_TEXT),
    Column("begin_date", DATE_TEXT),
    Column("end_date", DATE_TEXT),
    Index("ix_memberships_tenant_id_group_id", "tenant_id", "group_id"),
)

lists = Table(
    "lists",
    metadata,
    Column("tenant_id", Integer, primary_key=True),
    Column("list_id", ID, primary_key=True),
    Column("list_name", TEXT, nullable=False),
    Column("list_type", TEXT),
    Column("member_count", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

list_members = Table(
    "list_members",
    metadata,
    Column("tenant_id", Integer, primary_key=True),
    Column("list_id", ID, primary_key=True),
    Column("contact_id", ID, primary_key=True),
)

push_log = Table(
    "push_log",
    metadata,
    Column("tenant_id", Integer, primary_key=True),
    Column("request_id", String(32), primary_key=True),  # time-ordered: newest sorts last
    Column("endpoint", String(32), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("key_id", String(32)),
    Column("status", Integer, nullable=False),
    Column("received", Integer, nullable=False),
    Column("created", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("deleted", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("warning_count", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
    Column("detail", Text, nullable=False),  # JSON: error code, message, capped warnings/errors
    Column("duration_ms", Float, nullable=False),
    # SPEC 3.2: records left out by ?onError=skip, and whether the push was a dry run.
    Column("rejected", Integer, nullable=False, server_default="0"),
    Column("dry_run", Boolean, nullable=False, server_default=false()),
)

# What the push log holds, added up per tenant and UTC day, in the transaction that writes the
# push log: the console's 14-day chart reads 14 rows per tenant instead of every push
# (docs/console.md). Records of dry runs count in none of the outcomes (SPEC 3.2).
push_days = Table(
    "push_days",
    metadata,
    Column("tenant_id", Integer, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("pushes", Integer, nullable=False),
    Column("refused_pushes", Integer, nullable=False),  # answered other than 200
    Column("created", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("deleted", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),  # records refused: left out, or in a refusal
)

# SPEC 9: who may sign in to the console besides tenants, and the signed-in sessions.
operators = Table(
    "operators",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", String(256), nullable=False),  # argon2id, never the password
    Column("created_at", UtcDateTime, nullable=False),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),  # SHA-256 of the cookie's secret
    Column("operator", String(64)),  # set for an operator's session
    Column("tenant_code", String(64)),  # set for a tenant's session
    Column("key_id", String(32)),  # the key a tenant signed in with: revoked, signed out
    Column("created_at", UtcDateTime, nullable=False),
    Column("seen_at", UtcDateTime, nullable=False),  # 8 hours idle after this, it has ended
)

# SPEC 8: the change feed, stored compactly: one row per run of up to CHANGES_PER_ROW consecutive
# events of one push (first_seq..last_seq), their types and ids in `events` (JSON), expanded on
# read. A first load of 10,000 contacts writes 10 rows, not 10,000 (docs/benchmark.md).
change_events = Table(
    "change_events",
    metadata,
    Column("tenant_id", Integer, primary_key=True),
    Column("first_seq", BigInteger, primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("request_id", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),  # commit time, as near as it can be known
    Column("events", Text, nullable=False),  # JSON [[type code, id], ...] (store/changes.py)
    Index("ix_change_events_tenant_id_at", "tenant_id", "at"),
)

# SPEC 8: webhook subscriptions and the state of their delivery (store/webhooks.py).
webhooks = Table(
    "webhooks",
    metadata,
    Column("tenant_id", Integer, primary_key=True),
    Column("webhook_id", String(32), primary_key=True),
    Column("url", Text, nullable=False),
    Column("types", Text),  # JSON array of event types; null: every type
    Column("secret", String(64), nullable=False),  # the signing secret, whsec_...
    Column("state", String(16), nullable=False),  # active, failing, disabled
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_seq", BigInteger, nullable=False),  # the last seq delivered (or skipped)
    Column("batch_last", BigInteger),  # the batch being tried: its events end at this seq
    Column("batch_at", UtcDateTime),  # when that batch was first tried (its payload timestamp)
    Column("attempts", Integer, nullable=False, server_default="0"),  # failures in a row
    Column("next_attempt_at", UtcDateTime),
    Column("failing_since", UtcDateTime),
    Column("last_error", Text),
    Column("lease_owner", String(128)),  # the deliverer holding it: host:pid:token
    Column("lease_until", UtcDateTime),
)

# SPEC 3.2: the answers kept for Idempotency-Key. A row is claimed (status null, lease_until set)
# before its push runs, and completed with the answer in the push's own transaction for a 200,
# or just after it for a 400; a failure that ran nothing removes it.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", Integer, primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # push/options.request_fingerprint
    Column("request_id", String(32), nullable=False),  # the request that holds or answered it
    Column("status", Integer),  # null while that request runs
    Column("answer", Text),  # the body answered, byte for byte (UTF-8 JSON)
    Column("lease_until", UtcDateTime),  # while running: taken over once this has passed
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_idempotency_keys_tenant_id_expires_at", "tenant_id", "expires_at"),
)
