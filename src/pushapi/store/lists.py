"""Applying a validated List push (SPEC 4.2) and reading lists back (SPEC 5).

The batch is replayed in memory in array order over the stored memberships of the lists it
names (one chunked read), so counts are those of applying the records one by one; then only the
difference is written: the new members in one bulk insert, the removed ones in one bulk delete
(store/dialect.py). Adding 50,000 ids to a list is therefore one insert of 50,000 rows, not
50,000 statements.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from pushapi.schema.fields import Record, Report
from pushapi.schema.lists import ListMode, list_mode
from pushapi.schema.values import format_datetime
from pushapi.schema.warnings import named_ids
from pushapi.store.counts import Counts
from pushapi.store.dialect import (
    delete_in,
    delete_pairs,
    insert_rows,
    insert_values,
    select_in,
    update_rows,
)
from pushapi.store.paging import keyset_page
from pushapi.store.records import PushBatch
from pushapi.store.tables import contacts, list_members, lists
from pushapi.tenants import Tenant


@dataclass(slots=True)
class ListState:
    """A list as stored, then as the replay of the batch leaves it."""

    name: str
    list_type: str | None
    members: set[str] = field(default_factory=set)

    def copy(self) -> "ListState":
        return ListState(self.name, self.list_type, set(self.members))


def apply_list_push(
    conn: Connection, tenant: Tenant, batch: PushBatch, report: Report, now: datetime
) -> Counts:
    """Apply valid List records in array order; return what happened to each."""
    records = batch.read_records()
    tenant_id = tenant.tenant_id
    stored = _stored_lists(conn, tenant_id, {record["ListId"] for record in records})
    final = {list_id: state.copy() for list_id, state in stored.items()}
    counts = Counts()
    for record in records:
        created = record["ListId"] not in final
        if not _apply_record(record, final):
            counts.unchanged += 1
        elif created:
            counts.created += 1
            counts.changes.append(("list.created", record["ListId"]))
        else:
            counts.updated += 1
            counts.changes.append(("list.updated", record["ListId"]))
    _warn_unknown_contacts(conn, tenant_id, batch.indexes, records, report)
    _write_lists(conn, tenant_id, stored, final, now)
    _write_members(conn, tenant_id, stored, final)
    return counts


def _stored_lists(conn: Connection, tenant_id: int, list_ids: set[str]) -> dict[str, ListState]:
    query = select(lists.c.list_id, lists.c.list_name, lists.c.list_type).where(
        lists.c.tenant_id == tenant_id
    )
    stored = {
        row.list_id: ListState(row.list_name, row.list_type)
        for row in select_in(conn, query, lists.c.list_id, list_ids)
    }
    members = select(list_members.c.list_id, list_members.c.contact_id).where(
        list_members.c.tenant_id == tenant_id
    )
    for row in select_in(conn, members, list_members.c.list_id, stored):
        stored[row.list_id].members.add(row.contact_id)
    return stored


def _apply_record(record: Record, final: dict[str, ListState]) -> bool:
    """Apply one record to the in-memory lists; return whether it created or changed one."""
    list_id = record["ListId"]
    state = final.get(list_id)
    changed = state is None
    if state is None:
        # SPEC 4.2: a new list without a name takes its ListId as name.
        state = final[list_id] = ListState(list_id, None)
    # SPEC 4.2: ListName and ListType update the list only when given.
    if record["ListName"] is not None and record["ListName"] != state.name:
        state.name, changed = record["ListName"], True
    if record["ListType"] is not None and record["ListType"] != state.list_type:
        state.list_type, changed = record["ListType"], True
    ids = set(record["ContactIds"] or ())
    mode = list_mode(record)
    if mode is ListMode.ADD:
        added = ids - state.members
        if added:
            state.members |= added
            changed = True
    elif mode is ListMode.REMOVE:
        removed = ids & state.members
        if removed:
            state.members -= removed
            changed = True
    elif ids != state.members:
        # SPEC 4.2: Replace makes the members exactly ContactIds; an empty or absent list clears.
        state.members = ids
        changed = True
    return changed


def _warn_unknown_contacts(
    conn: Connection, tenant_id: int, indexes: list[int], records: list[Record], report: Report
) -> None:
    """SPEC 4.2: ids of contacts not known yet are kept as members and named in a warning."""
    adding = [
        (index, record)
        for index, record in zip(indexes, records, strict=True)
        if record["ContactIds"] and list_mode(record) is not ListMode.REMOVE
    ]
    wanted = {contact_id for _, record in adding for contact_id in record["ContactIds"]}
    if not wanted:
        return
    c = contacts.c
    query = select(c.contact_id).where(c.tenant_id == tenant_id, c.is_deleted.is_(False))
    known = {row.contact_id for row in select_in(conn, query, c.contact_id, wanted)}
    for index, record in adding:
        unknown = set(record["ContactIds"]) - known
        if unknown:
            noun = "contact is" if len(unknown) == 1 else "contacts are"
            report.warn(
                index,
                "ContactIds",
                f"{len(unknown)} {noun} not known yet; kept as members: {named_ids(unknown)}",
            )


def _write_lists(
    conn: Connection,
    tenant_id: int,
    stored: dict[str, ListState],
    final: dict[str, ListState],
    now: datetime,
) -> None:
    new_rows, changed_rows = [], []
    for list_id, state in final.items():
        before = stored.get(list_id)
        if before is None:
            new_rows.append(
                {
                    "tenant_id": tenant_id,
                    "list_id": list_id,
                    "list_name": state.name,
                    "list_type": state.list_type,
                    "member_count": len(state.members),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        elif (before.name, before.list_type, before.members) != (
            state.name,
            state.list_type,
            state.members,
        ):
            changed_rows.append(
                {
                    "tenant_id": tenant_id,
                    "list_id": list_id,
                    "list_name": state.name,
                    "list_type": state.list_type,
                    "member_count": len(state.members),
                    "updated_at": now,
                }
            )
    insert_rows(conn, lists, new_rows)
    update_rows(conn, lists, ("tenant_id", "list_id"), changed_rows)


def _write_members(
    conn: Connection, tenant_id: int, stored: dict[str, ListState], final: dict[str, ListState]
) -> None:
    """Write only the difference between the stored and the final members of each list."""
    added: list[tuple[str, str]] = []
    removed: list[tuple[str, str]] = []
    cleared: list[str] = []
    for list_id, state in final.items():
        before = stored[list_id].members if list_id in stored else set()
        added.extend((list_id, contact_id) for contact_id in state.members - before)
        if before and not state.members:
            cleared.append(list_id)
        else:
            removed.extend((list_id, contact_id) for contact_id in before - state.members)
    delete_in(conn, list_members, tenant_id, "list_id", cleared)
    delete_pairs(conn, list_members, tenant_id, ("list_id", "contact_id"), removed)
    insert_values(
        conn,
        list_members,
        ("tenant_id", "list_id", "contact_id"),
        [(tenant_id, list_id, contact_id) for list_id, contact_id in added],
    )


class ListSummary(msgspec.Struct, rename="pascal"):
    """A list as read back (SPEC 5), without its members."""

    list_id: str
    list_name: str
    list_type: str | None
    member_count: int
    created_at: str
    updated_at: str


class ListWithMembers(ListSummary):
    """A list with a page of its ContactIds, in ContactId order."""

    contact_ids: list[str]
    next_cursor: str | None = msgspec.field(name="nextCursor")


def _list_fields(row: Any) -> dict[str, Any]:
    return {
        "list_id": row.list_id,
        "list_name": row.list_name,
        "list_type": row.list_type,
        "member_count": row.member_count,
        "created_at": format_datetime(row.created_at),
        "updated_at": format_datetime(row.updated_at),
    }


def list_lists(
    conn: Connection, tenant_id: int, limit: int, after: str | None
) -> tuple[list[ListSummary], str | None]:
    """A page of lists (without members) in ListId order, and where the next page starts."""
    query = select(lists).where(lists.c.tenant_id == tenant_id)
    rows, next_after = keyset_page(conn, query, lists.c.list_id, limit, after)
    return [ListSummary(**_list_fields(row)) for row in rows], next_after


def get_list(
    conn: Connection, tenant_id: int, list_id: str, limit: int, after: str | None
) -> tuple[ListSummary, list[str], str | None] | None:
    """A list, a page of its ContactIds (in ContactId order), and where the next page starts."""
    row = conn.execute(
        select(lists).where(lists.c.tenant_id == tenant_id, lists.c.list_id == list_id)
    ).first()
    if row is None:
        return None
    m = list_members.c
    query = select(m.contact_id).where(m.tenant_id == tenant_id, m.list_id == list_id)
    members, next_after = keyset_page(conn, query, m.contact_id, limit, after)
    summary = ListSummary(**_list_fields(row))
    return summary, [member.contact_id for member in members], next_after
