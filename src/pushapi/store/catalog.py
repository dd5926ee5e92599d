"""Meetings and products (SPEC 4.3, 4.4): records stored whole, with soft delete.

Both are applied by the one function `apply_document_push`, parameterised by a `DocumentKind`
(schema, table, id field): one chunked read of the stored hashes, an in-memory replay in array
order that counts each record as if applied one by one, then bulk writes of what changed. An
identical re-push matches the stored hash and writes nothing.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, bindparam, insert, select, update

from pushapi.schema.fields import ObjectSchema, Record, Report
from pushapi.schema.meeting import MEETING
from pushapi.schema.product import PRODUCT
from pushapi.schema.values import format_datetime
from pushapi.store.batch import select_in
from pushapi.store.counts import Counts
from pushapi.store.documents import content_hash, dump_document, load_json
from pushapi.store.tables import meetings, products
from pushapi.tenants import Tenant


@dataclass(frozen=True)
class DocumentKind:
    """A kind of record stored as one document with a soft-delete flag."""

    noun: str
    schema: ObjectSchema
    table: Table
    id_field: str  # the record's id property, e.g. MeetingId
    id_column_name: str

    @property
    def id_column(self) -> Column[Any]:
        return self.table.c[self.id_column_name]

    @property
    def deletion_field(self) -> str:
        assert self.schema.deletion_field is not None
        return self.schema.deletion_field


MEETINGS = DocumentKind("meeting", MEETING, meetings, "MeetingId", "meeting_id")
PRODUCTS = DocumentKind("product", PRODUCT, products, "ProductId", "product_id")


@dataclass(slots=True)
class DocumentState:
    """A record as stored, then as the replay of the batch leaves it."""

    exists: bool
    deleted: bool
    digest: str
    document: bytes | None = None  # set when the replay replaced the stored document


def apply_meeting_push(
    conn: Connection, tenant: Tenant, records: list[Record], report: Report, now: datetime
) -> Counts:
    """Apply valid Meeting records in array order (SPEC 4.3)."""
    return apply_document_push(MEETINGS, conn, tenant, records, report, now)


def apply_product_push(
    conn: Connection, tenant: Tenant, records: list[Record], report: Report, now: datetime
) -> Counts:
    """Apply valid Product records in array order (SPEC 4.4)."""
    return apply_document_push(PRODUCTS, conn, tenant, records, report, now)


def apply_document_push(
    kind: DocumentKind,
    conn: Connection,
    tenant: Tenant,
    records: list[Record],
    report: Report,
    now: datetime,
) -> Counts:
    """Apply valid records of `kind` in array order; return what happened to each (SPEC 3)."""
    ids = [record[kind.id_field] for record in records]
    table = kind.table
    query = select(
        kind.id_column.label("record_id"), table.c.is_deleted, table.c.content_hash
    ).where(table.c.tenant_id == tenant.tenant_id)
    stored = {
        row.record_id: DocumentState(True, row.is_deleted, row.content_hash)
        for row in select_in(conn, query, kind.id_column, ids)
    }
    final = {key: DocumentState(s.exists, s.deleted, s.digest) for key, s in stored.items()}
    counts = _replay(kind, records, final, report)
    _write(kind, conn, tenant.tenant_id, stored, final, now)
    return counts


def _replay(
    kind: DocumentKind, records: list[Record], state: dict[str, DocumentState], report: Report
) -> Counts:
    """Apply the records to the in-memory states in array order, counting each (SPEC 3)."""
    counts = Counts()
    first_index: dict[str, int] = {}
    for index, record in enumerate(records):
        record_id = record[kind.id_field]
        if record_id in first_index:
            report.warn(
                index,
                kind.id_field,
                f"also pushed at index {first_index[record_id]}; the later record wins",
            )
        else:
            first_index[record_id] = index
        current = state.setdefault(record_id, DocumentState(False, False, ""))
        if kind.schema.is_deletion(record):
            # SPEC 3: deleting what is already deleted or unknown is unchanged.
            if current.exists and not current.deleted:
                current.deleted = True
                counts.deleted += 1
            else:
                counts.unchanged += 1
                if not current.exists:
                    report.warn(index, kind.id_field, f"unknown {kind.noun}; nothing to delete")
            continue
        # The stored document never holds the deletion flag: the row's is_deleted does.
        document = dump_document({**record, kind.deletion_field: None})
        digest = content_hash(document)
        if not current.exists:
            current.exists, current.digest, current.document = True, digest, document
            counts.created += 1
        elif current.deleted or current.digest != digest:
            current.deleted, current.digest, current.document = False, digest, document
            counts.updated += 1
        else:
            counts.unchanged += 1
    return counts


def _write(
    kind: DocumentKind,
    conn: Connection,
    tenant_id: int,
    stored: dict[str, DocumentState],
    final: dict[str, DocumentState],
    now: datetime,
) -> None:
    new_rows, changed_rows, flag_rows = [], [], []
    for record_id, state in final.items():
        before = stored.get(record_id)
        if before is None:
            if state.exists:
                assert state.document is not None
                new_rows.append(
                    {
                        "tenant_id": tenant_id,
                        kind.id_column_name: record_id,
                        "content_hash": state.digest,
                        "doc": state.document.decode(),
                        "is_deleted": state.deleted,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        elif state.digest != before.digest:
            assert state.document is not None
            changed_rows.append(
                {
                    "b_id": record_id,
                    "b_doc": state.document.decode(),
                    "b_hash": state.digest,
                    "b_deleted": state.deleted,
                }
            )
        elif state.deleted != before.deleted:
            flag_rows.append({"b_id": record_id, "b_deleted": state.deleted})
    table = kind.table
    where = (table.c.tenant_id == tenant_id, kind.id_column == bindparam("b_id"))
    if new_rows:
        conn.execute(insert(table), new_rows)
    if changed_rows:
        conn.execute(
            update(table)
            .where(*where)
            .values(
                doc=bindparam("b_doc"),
                content_hash=bindparam("b_hash"),
                is_deleted=bindparam("b_deleted"),
                updated_at=now,
            ),
            changed_rows,
        )
    if flag_rows:
        conn.execute(
            update(table).where(*where).values(is_deleted=bindparam("b_deleted"), updated_at=now),
            flag_rows,
        )


def _document_json(row: Any) -> dict[str, Any]:
    document = load_json(row.doc)
    document["IsDeleted"] = row.is_deleted
    document["Meta"] = {
        "CreatedAt": format_datetime(row.created_at),
        "UpdatedAt": format_datetime(row.updated_at),
        "IsDeleted": row.is_deleted,
    }
    return dict(document)


def get_document(
    kind: DocumentKind, conn: Connection, tenant_id: int, record_id: str, include_deleted: bool
) -> dict[str, Any] | None:
    """One record as pushed (normalised) plus `Meta`; None when unknown or hidden as deleted."""
    row = conn.execute(
        select(kind.table).where(kind.table.c.tenant_id == tenant_id, kind.id_column == record_id)
    ).first()
    if row is None or (row.is_deleted and not include_deleted):
        return None
    return _document_json(row)


def list_documents(
    kind: DocumentKind,
    conn: Connection,
    tenant_id: int,
    limit: int,
    after: str | None,
    modified_since: datetime | None,
    include_deleted: bool,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of records in id order, and the id the next page starts after."""
    table = kind.table
    query = select(table).where(table.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(kind.id_column > after)
    if modified_since is not None:
        query = query.where(table.c.updated_at >= modified_since)
    if not include_deleted:
        query = query.where(table.c.is_deleted.is_(False))
    rows = conn.execute(query.order_by(kind.id_column).limit(limit + 1)).all()
    page = rows[:limit]
    next_after = getattr(page[-1], kind.id_column_name) if len(rows) > limit else None
    return [_document_json(row) for row in page], next_after
