"""Reading contacts back (SPEC 5), always scoped to one tenant."""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from pushapi.schema.contact import CONTACT_GROUP, GROUP_ATTRIBUTES
from pushapi.store.dialect import select_in
from pushapi.store.records import meta
from pushapi.store.tables import GROUP_ATTRIBUTE_COLUMNS, groups

# Stored documents read back with exact decimals, the same values as documents.load_json gives
# (tests/test_contact_reads.py) in a fraction of its time (docs/benchmark.md, "Measured choices").
_STORED_DOCUMENT = msgspec.json.Decoder(float_hook=Decimal)


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


def contacts_json(conn: Connection, tenant_id: int, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Stored contact rows as read back, with one query for all the groups they are in."""
    documents = [_STORED_DOCUMENT.decode(row.doc) for row in rows]
    wanted = {entry["GroupId"] for document in documents for entry in document["Groups"]}
    query = select(groups).where(groups.c.tenant_id == tenant_id)
    group_rows = {g.group_id: g for g in select_in(conn, query, groups.c.group_id, wanted)}
    return [
        _contact_json(row, document, group_rows)
        for row, document in zip(rows, documents, strict=True)
    ]
