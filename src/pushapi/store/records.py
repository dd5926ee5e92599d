"""Records stored whole: contacts, meetings and products (SPEC 3 counting, SPEC 4 full replace
and soft delete).

Each is one row holding its normalised document, a hash of it and a soft-delete flag. A push is
applied with one chunked read of the stored hashes, an in-memory replay of the records in array
order that counts each as if applied one by one, and bulk writes of what changed, so every
record is written at most once and an identical re-push writes nothing.
"""

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from msgspec import Raw
from sqlalchemy import Column, Connection, Row, Table, select

from pushapi.schema.fields import Record, Report
from pushapi.schema.values import format_datetime
from pushapi.store.counts import Counts
from pushapi.store.dialect import insert_rows, rows_by_key, update_rows
from pushapi.store.paging import keyset_page


@dataclass(frozen=True)
class RecordTable:
    """A table of whole records, keyed by (tenant_id, <id column>)."""

    table: Table
    id_column_name: str
    id_path: str  # where the id sits in a pushed record, for warnings: "ContactDetails.ContactId"
    noun: str
    # Columns written with the document from PushedRecord.columns (contacts: raw_hash, ...).
    extra_columns: tuple[str, ...] = ()

    @property
    def id_column(self) -> Column[Any]:
        return self.table.c[self.id_column_name]


@dataclass(slots=True)
class PushedRecord:
    """One pushed record, normalised into the document stored for it."""

    index: int
    key: str
    deleting: bool
    document: str = ""  # the canonical JSON, as stored
    digest: str = ""
    columns: dict[str, Any] | None = None  # values of the table's extra columns


@dataclass(slots=True)
class Recognised:
    """A pushed record whose exact bytes are stored as those of a live record (`raw_hash`).

    Found before the write transaction; inside it the record is taken as unchanged only if its
    row still holds that digest, and read in full like any other record otherwise.
    """

    index: int
    raw: Raw
    key: str
    raw_digest: str
    stored_digest: str  # the content hash of the row it was found in
    stored_extra: str | None  # what the table keeps beside the digest (contacts: group attributes)


@dataclass(slots=True)
class Recognition:
    """What was found before the write transaction: each record's digest, the records a live
    row was written from, and the version of the stored records they were found in."""

    raw_digests: list[str]
    known: dict[int, Recognised]
    version: int | None  # None: found inside the write transaction, so it holds


@dataclass(frozen=True, slots=True)
class PushBatch:
    """The valid records of one push, in array order, as the endpoint's apply takes them."""

    records: list[Record | Recognised]
    indexes: list[int]  # the index of each record in the pushed array
    # The digest of the exact bytes of each record of the pushed array, for the endpoints that
    # recognise records (contacts); else None.
    raw_digests: list[str] | None = None

    def read_records(self) -> list[Record]:
        """The records, for an endpoint that recognises none (every one was read)."""
        records = [record for record in self.records if not isinstance(record, Recognised)]
        assert len(records) == len(self.records)
        return records


@dataclass(slots=True)
class RecordState:
    """A record as stored, then as the replay of the batch leaves it."""

    exists: bool
    deleted: bool
    digest: str
    source: PushedRecord | None = None  # the pushed record whose document is to be written
    raw_digest: str | None = None  # as stored, where the table keeps one (raw_hash)


def stored_states(
    conn: Connection, kind: RecordTable, tenant_id: int, keys: list[str]
) -> dict[str, RecordState]:
    """The stored state of each of `keys` that exists (one lookup through the driver)."""
    raw_hash = "raw_hash" in kind.table.c
    columns = (
        kind.id_column_name,
        "is_deleted",
        "content_hash",
        *(("raw_hash",) if raw_hash else ()),
    )
    rows = rows_by_key(conn, kind.table, columns, tenant_id, kind.id_column_name, keys)
    return {
        row[0]: RecordState(True, bool(row[1]), row[2], None, row[3] if raw_hash else None)
        for row in rows
    }


def replay(
    kind: RecordTable,
    pushed: Sequence[PushedRecord],
    state: dict[str, RecordState],
    report: Report,
) -> Counts:
    """Apply the records to the in-memory states in array order, counting each (SPEC 3)."""
    counts = Counts()
    changes = counts.changes
    created, updated, deleted = (
        f"{kind.noun}.{what}" for what in ("created", "updated", "deleted")
    )
    first_index: dict[str, int] = {}
    for p in pushed:
        if p.key in first_index:
            report.warn(
                p.index, kind.id_path, f"also pushed at index {first_index[p.key]}; the later wins"
            )
        else:
            first_index[p.key] = p.index
        current = state.setdefault(p.key, RecordState(False, False, ""))
        if p.deleting:
            # SPEC 3: deleting what is already deleted or unknown is unchanged.
            if current.exists and not current.deleted:
                current.deleted = True
                counts.deleted += 1
                changes.append((deleted, p.key))
            else:
                counts.unchanged += 1
                if not current.exists:
                    report.warn(p.index, kind.id_path, f"unknown {kind.noun}; nothing to delete")
        elif not current.exists:
            current.exists, current.digest, current.source = True, p.digest, p
            counts.created += 1
            changes.append((created, p.key))
        elif current.deleted or current.digest != p.digest:
            current.deleted, current.digest, current.source = False, p.digest, p
            counts.updated += 1
            changes.append((updated, p.key))
        else:
            counts.unchanged += 1
    return counts


def new_row_columns(kind: RecordTable) -> tuple[str, ...]:
    """The columns of a new row of `kind`, in the order of new_row's values."""
    return (
        "tenant_id",
        kind.id_column_name,
        "content_hash",
        "doc",
        "is_deleted",
        "created_at",
        "updated_at",
        *kind.extra_columns,
    )


def new_row(
    kind: RecordTable, tenant_id: int, state: RecordState, key: str, now: datetime
) -> dict[str, Any]:
    """The row that stores a record new to the tenant, written from `state.source`."""
    assert state.source is not None
    extra = state.source.columns or {}
    return {
        "tenant_id": tenant_id,
        kind.id_column_name: key,
        "content_hash": state.digest,
        "doc": state.source.document,
        "is_deleted": state.deleted,
        "created_at": now,
        "updated_at": now,
        **{name: extra.get(name) for name in kind.extra_columns},
    }


def write_records(
    conn: Connection,
    kind: RecordTable,
    tenant_id: int,
    stored: dict[str, RecordState],
    final: dict[str, RecordState],
    now: datetime,
    inserted: Set[str] = frozenset(),
) -> list[PushedRecord]:
    """Write what the replay changed, in bulk; return the records whose document was written.

    `inserted`: keys of new records whose rows this transaction has written already, as `final`
    has them (contacts inserted while the push was prepared).
    """
    new_rows, changed_rows, flag_rows = [], [], []
    written: list[PushedRecord] = []
    for key, state in final.items():
        before = stored.get(key)
        if state.source is not None and (before is None or state.digest != before.digest):
            written.append(state.source)
            if before is None:
                if key not in inserted:
                    new_rows.append(new_row(kind, tenant_id, state, key, now))
            else:
                extra = state.source.columns or {}
                changed_rows.append(
                    {
                        "tenant_id": tenant_id,
                        kind.id_column_name: key,
                        "doc": state.source.document,
                        "content_hash": state.digest,
                        "is_deleted": state.deleted,
                        "updated_at": now,
                        **{name: extra.get(name) for name in kind.extra_columns},
                    }
                )
        elif before is not None and state.deleted != before.deleted:
            flag_rows.append(
                {
                    "tenant_id": tenant_id,
                    kind.id_column_name: key,
                    "is_deleted": state.deleted,
                    "updated_at": now,
                }
            )
    keys = ("tenant_id", kind.id_column_name)
    insert_rows(conn, kind.table, new_rows)
    update_rows(conn, kind.table, keys, changed_rows)
    update_rows(conn, kind.table, keys, flag_rows)
    return written


def meta(row: Row[Any]) -> dict[str, Any]:
    """The `Meta` object of a read-back record (SPEC 5)."""
    return {
        "CreatedAt": format_datetime(row.created_at),
        "UpdatedAt": format_datetime(row.updated_at),
        "IsDeleted": row.is_deleted,
    }


# Stored rows of one kind of record as the read API returns them (contacts, documents).
RowsJson = Callable[[Connection, int, Sequence[Row[Any]]], list[dict[str, Any]]]


def get_record(
    conn: Connection,
    kind: RecordTable,
    tenant_id: int,
    key: str,
    include_deleted: bool,
    as_json: RowsJson,
) -> dict[str, Any] | None:
    """One record as read back (SPEC 5); None when unknown, or deleted and not asked for."""
    table = kind.table
    row = conn.execute(
        select(table).where(table.c.tenant_id == tenant_id, kind.id_column == key)
    ).first()
    if row is None or (row.is_deleted and not include_deleted):
        return None
    return as_json(conn, tenant_id, [row])[0]


def list_records(
    conn: Connection,
    kind: RecordTable,
    tenant_id: int,
    page: tuple[int, str | None, int],
    modified_since: datetime | None,
    include_deleted: bool,
    as_json: RowsJson,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page (limit, after, most bytes of stored documents) of records in id order as read
    back, and the id the next page starts after (keyset pagination)."""
    table = kind.table
    query = select(table).where(table.c.tenant_id == tenant_id)
    if modified_since is not None:
        # SPEC 5: an unchanged re-push does not move updated_at, so it is not a modification.
        query = query.where(table.c.updated_at >= modified_since)
    if not include_deleted:
        query = query.where(table.c.is_deleted.is_(False))
    limit, after, max_bytes = page
    rows, next_after = keyset_page(
        conn, query, kind.id_column, limit, after, max_bytes=max_bytes, size_of=_doc_size
    )
    return as_json(conn, tenant_id, rows), next_after


def _doc_size(row: Row[Any]) -> int:
    return len(row.doc)
