"""Meetings and products (SPEC 4.3, 4.4): records stored whole, with soft delete.

Both are applied by the one function `apply_document_push`, parameterised by a `DocumentKind`
(schema, table, id field), on the mechanism every whole record shares (store/records.py).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pushapi.schema.fields import ObjectSchema, Record, Report
from pushapi.schema.meeting import MEETING
from pushapi.schema.product import PRODUCT
from pushapi.store.counts import Counts
from pushapi.store.documents import content_hash, dump_document, load_json
from pushapi.store.records import (
    PushBatch,
    PushedRecord,
    RecordState,
    RecordTable,
    get_record_row,
    list_record_rows,
    meta,
    replay,
    stored_states,
    write_records,
)
from pushapi.store.tables import meetings, products
from pushapi.tenants import Tenant


@dataclass(frozen=True)
class DocumentKind(RecordTable):
    """A kind of record stored as one document whose own fields hold the soft-delete flag."""

    schema: ObjectSchema | None = None

    @property
    def object_schema(self) -> ObjectSchema:
        assert self.schema is not None
        return self.schema

    @property
    def deletion_field(self) -> str:
        assert self.object_schema.deletion_field is not None
        return self.object_schema.deletion_field


MEETINGS = DocumentKind(meetings, "meeting_id", "MeetingId", "meeting", schema=MEETING)
PRODUCTS = DocumentKind(products, "product_id", "ProductId", "product", schema=PRODUCT)


def apply_meeting_push(
    conn: Connection, tenant: Tenant, batch: PushBatch, report: Report, now: datetime
) -> Counts:
    """Apply valid Meeting records in array order (SPEC 4.3)."""
    return apply_document_push(MEETINGS, conn, tenant, batch, report, now)


def apply_product_push(
    conn: Connection, tenant: Tenant, batch: PushBatch, report: Report, now: datetime
) -> Counts:
    """Apply valid Product records in array order (SPEC 4.4)."""
    return apply_document_push(PRODUCTS, conn, tenant, batch, report, now)


def apply_document_push(
    kind: DocumentKind,
    conn: Connection,
    tenant: Tenant,
    batch: PushBatch,
    report: Report,
    now: datetime,
) -> Counts:
    """Apply valid records of `kind` in array order; return what happened to each (SPEC 3)."""
    records = batch.read_records()
    pushed = [
        _pushed(kind, record, index) for index, record in zip(batch.indexes, records, strict=True)
    ]
    stored = stored_states(conn, kind, tenant.tenant_id, [p.key for p in pushed])
    final = {key: RecordState(s.exists, s.deleted, s.digest) for key, s in stored.items()}
    counts = replay(kind, pushed, final, report)
    write_records(conn, kind, tenant.tenant_id, stored, final, now)
    return counts


def _pushed(kind: DocumentKind, record: Record, index: int) -> PushedRecord:
    key = record[kind.id_path]  # for meetings and products, the id is a top-level field
    if kind.object_schema.is_deletion(record):
        return PushedRecord(index, key, deleting=True)
    # The stored document never holds the deletion flag: the row's is_deleted does.
    document = dump_document({**record, kind.deletion_field: None})
    return PushedRecord(index, key, False, document.decode(), content_hash(document))


def _document_json(row: Any) -> dict[str, Any]:
    document = load_json(row.doc)
    document["IsDeleted"] = row.is_deleted
    document["Meta"] = meta(row)
    return dict(document)


def get_document(
    kind: DocumentKind, conn: Connection, tenant_id: int, record_id: str, include_deleted: bool
) -> dict[str, Any] | None:
    """One record as pushed (normalised) plus `Meta`; None when unknown or hidden as deleted."""
    row = get_record_row(conn, kind, tenant_id, record_id, include_deleted)
    return None if row is None else _document_json(row)


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
    rows, next_after = list_record_rows(
        conn, kind, tenant_id, limit, after, modified_since, include_deleted
    )
    return [_document_json(row) for row in rows], next_after
