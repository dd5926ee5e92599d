"""Reading contacts back (SPEC 5), always scoped to one tenant."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from pushapi.schema.contact import CONTACT_GROUP, GROUP_ATTRIBUTES
from pushapi.store.contacts import CONTACTS
from pushapi.store.dialect import select_in
from pushapi.store.documents import load_json
from pushapi.store.records import get_record_row, list_record_rows, meta
from pushapi.store.tables import GROUP_ATTRIBUTE_COLUMNS, groups


def _contact_json(row: Any, document: dict[str, Any], group_rows: dict[str, Any]) -> dict[str, Any]:
    """SPEC 5: the stored document, its stored state, and its groups' current attributes."""
    document["ContactDetails"]["IsDeleted"] = row.is_deleted
    entries = []
    for entry in document["Groups"]:
        group = group_rows.get(entry["GroupId"])
        entries.append(
            {
                f.name: (
                    (getattr(group, GROUP_ATTRIBUTE_COLUMNS[f.name]) if group is not None else None)
                    if f.name in GROUP_ATTRIBUTES
                    else entry[f.name]
                )
                for f in CONTACT_GROUP.fields
            }
        )
    document["Groups"] = entries
    document["Meta"] = meta(row)
    return dict(document)


def _contacts_json(conn: Connection, tenant_id: int, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Stored contact rows as read back, with one query for all the groups they are in."""
    documents = [load_json(row.doc) for row in rows]
    wanted = {entry["GroupId"] for document in documents for entry in document["Groups"]}
    query = select(groups).where(groups.c.tenant_id == tenant_id)
    group_rows = {g.group_id: g for g in select_in(conn, query, groups.c.group_id, wanted)}
    return [
        _contact_json(row, document, group_rows)
        for row, document in zip(rows, documents, strict=True)
    ]


def get_contact(
    conn: Connection, tenant_id: int, contact_id: str, include_deleted: bool
) -> dict[str, Any] | None:
    row = get_record_row(conn, CONTACTS, tenant_id, contact_id, include_deleted)
    return None if row is None else _contacts_json(conn, tenant_id, [row])[0]


def list_contacts(
    conn: Connection,
    tenant_id: int,
    limit: int,
    after: str | None,
    modified_since: datetime | None,
    include_deleted: bool,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of contacts in ContactId order, and the ContactId the next page starts after."""
    rows, next_after = list_record_rows(
        conn, CONTACTS, tenant_id, limit, after, modified_since, include_deleted
    )
    return _contacts_json(conn, tenant_id, rows), next_after
