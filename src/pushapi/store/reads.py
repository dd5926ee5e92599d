"""Reading contacts and groups back (SPEC 5), always scoped to one tenant."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from pushapi.schema.contact import CONTACT_GROUP, GROUP_ATTRIBUTES
from pushapi.schema.values import format_datetime
from pushapi.store.batch import select_in
from pushapi.store.contacts import CONTACTS
from pushapi.store.documents import load_json
from pushapi.store.records import get_record_row, list_record_rows, meta
from pushapi.store.tables import GROUP_ATTRIBUTE_COLUMNS, contacts, groups, memberships
from pushapi.tenants import Tenant


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


def _group_json(tenant: Tenant, row: Any) -> dict[str, Any]:
    return {
        "GroupId": row.group_id,
        "GroupName": row.group_name,
        "GroupType": row.group_type,
        "GroupSubType": row.group_sub_type,
        "Kind": tenant.group_kind(row.group_type),
        "CreatedAt": format_datetime(row.created_at),
        "UpdatedAt": format_datetime(row.updated_at),
    }


def list_groups(
    conn: Connection, tenant: Tenant, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = select(groups).where(groups.c.tenant_id == tenant.tenant_id)
    if after is not None:
        query = query.where(groups.c.group_id > after)
    rows = conn.execute(query.order_by(groups.c.group_id).limit(limit + 1)).all()
    page = rows[:limit]
    next_after = page[-1].group_id if len(rows) > limit else None
    return [_group_json(tenant, row) for row in page], next_after


def get_group(conn: Connection, tenant: Tenant, group_id: str, at: str) -> dict[str, Any] | None:
    """A group with the memberships active at `at` (a normalised DateTime) of live contacts."""
    row = conn.execute(
        select(groups).where(groups.c.tenant_id == tenant.tenant_id, groups.c.group_id == group_id)
    ).first()
    if row is None:
        return None
    m = memberships.c
    active = (
        select(m.contact_id, m.role, m.initial_join_date, m.begin_date, m.end_date)
        .join(
            contacts,
            and_(contacts.c.tenant_id == m.tenant_id, contacts.c.contact_id == m.contact_id),
        )
        .where(
            m.tenant_id == tenant.tenant_id,
            m.group_id == group_id,
            contacts.c.is_deleted.is_(False),
            # SPEC 4.1: active when BeginDate is null or <= t, and EndDate is null or > t.
            or_(m.begin_date.is_(None), m.begin_date <= at),
            or_(m.end_date.is_(None), m.end_date > at),
        )
        .order_by(m.contact_id, m.position)
    )
    members = [
        {
            "ContactId": member.contact_id,
            "Role": member.role,
            "InitialJoinDate": member.initial_join_date,
            "BeginDate": member.begin_date,
            "EndDate": member.end_date,
        }
        for member in conn.execute(active)
    ]
    return {**_group_json(tenant, row), "ActiveAt": at, "ActiveMembers": members}
