"""Groups (SPEC 4.1): their own attributes, taken from the memberships pushed with contacts, and
reading them back with their Kind and active members (SPEC 5)."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, or_, select

from pushapi.schema.contact import GROUP_ATTRIBUTES
from pushapi.schema.values import format_datetime
from pushapi.store.dialect import insert_rows, rows_by_key, update_rows
from pushapi.store.paging import keyset_page
from pushapi.store.tables import GROUP_ATTRIBUTE_COLUMNS, contacts, groups, memberships
from pushapi.tenants import Tenant

# (GroupId, GroupName, GroupType, GroupSubType) of one Groups entry, as pushed and normalised.
GroupAttributes = tuple[str, str | None, str | None, str | None]


def apply_group_attributes(
    conn: Connection, tenant_id: int, entries: Iterable[GroupAttributes], now: datetime
) -> list[tuple[str, str]]:
    """SPEC 4.1: a group's name, type and subtype take the last pushed (non-null) value; a
    group first named here is created. The change events (SPEC 8): group.created, and
    group.updated for a group whose name, type or subtype changed."""
    latest: dict[str, dict[str, Any]] = {}
    columns = [GROUP_ATTRIBUTE_COLUMNS[name] for name in GROUP_ATTRIBUTES]
    applied: dict[str, GroupAttributes] = {}  # the entry applied last, by group
    for entry in entries:
        group_id = entry[0]
        if applied.get(group_id) == entry:
            continue  # applying the same entry again changes nothing (the usual case)
        applied[group_id] = entry
        values = latest.setdefault(group_id, {})
        for column, value in zip(columns, entry[1:], strict=True):
            if value is not None:
                values[column] = value
    if not latest:
        return []
    names = list(GROUP_ATTRIBUTE_COLUMNS.values())
    existing = {
        row[0]: dict(zip(names, row[1:], strict=True))
        for row in rows_by_key(conn, groups, ("group_id", *names), tenant_id, "group_id", latest)
    }
    new_rows, changed_rows = [], []
    for group_id, values in latest.items():
        stored = existing.get(group_id)
        if stored is None:
            new_rows.append(
                {
                    "tenant_id": tenant_id,
                    "group_id": group_id,
                    **dict.fromkeys(GROUP_ATTRIBUTE_COLUMNS.values()),
                    **values,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        elif any(stored[column] != value for column, value in values.items()):
            merged = stored | values
            changed_rows.append(
                {"tenant_id": tenant_id, "group_id": group_id, **merged, "updated_at": now}
            )
    insert_rows(conn, groups, new_rows)
    update_rows(conn, groups, ("tenant_id", "group_id"), changed_rows)
    return [("group.created", row["group_id"]) for row in new_rows] + [
        ("group.updated", row["group_id"]) for row in changed_rows
    ]


class Group(msgspec.Struct, rename="pascal"):
    """A group as read back (SPEC 5): its attributes and its Kind (community or security)."""

    group_id: str
    group_name: str | None
    group_type: str | None
    group_sub_type: str | None
    kind: str
    created_at: str
    updated_at: str


class ActiveMember(msgspec.Struct, rename="pascal"):
    """A membership active at the time asked for."""

    contact_id: str
    role: str | None
    initial_join_date: str | None
    begin_date: str | None
    end_date: str | None


class GroupWithMembers(Group):
    """A group with the memberships of live contacts active at `ActiveAt` (SPEC 4.1)."""

    active_at: str
    active_members: list[ActiveMember]


def _group_fields(tenant: Tenant, row: Any) -> dict[str, Any]:
    return {
        "group_id": row.group_id,
        "group_name": row.group_name,
        "group_type": row.group_type,
        "group_sub_type": row.group_sub_type,
        "kind": tenant.group_kind(row.group_type),
        "created_at": format_datetime(row.created_at),
        "updated_at": format_datetime(row.updated_at),
    }


def list_groups(
    conn: Connection, tenant: Tenant, limit: int, after: str | None
) -> tuple[list[Group], str | None]:
    query = select(groups).where(groups.c.tenant_id == tenant.tenant_id)
    rows, next_after = keyset_page(conn, query, groups.c.group_id, limit, after)
    return [Group(**_group_fields(tenant, row)) for row in rows], next_after


def get_group(conn: Connection, tenant: Tenant, group_id: str, at: str) -> GroupWithMembers | None:
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
    members = [ActiveMember(*member) for member in conn.execute(active)]
    return GroupWithMembers(**_group_fields(tenant, row), active_at=at, active_members=members)
