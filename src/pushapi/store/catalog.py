"""Meetings and products (SPEC 4.3, 4.4): records stored whole, with soft delete.

Both are applied by the one function `apply_document_push`, parameterised by a `DocumentKind`
(schema, table, id field), on the mechanism every whole record shares (store/records.py).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

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


def documents_json(
    _conn: Connection, _tenant_id: int, rows: Sequence[Row[Any]]
) -> list[dict[str, Any]]:
    """Stored meeting or product rows as read back: the document, IsDeleted and Meta."""
    found = []
    for row in rows:
        document = load_json(row.doc)
        document["IsDeleted"] = row.is_deleted
        document["Meta"] = meta(row)
        found.append(document)
    return found
