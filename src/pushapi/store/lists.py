"""Applying a validated List push (SPEC 4.2) and reading lists back (SPEC 5).

The batch is replayed in memory in array order over the stored memberships of the lists it
names (one chunked read), so counts are those of applying the records one by one; then only the
difference is written: the new members in one bulk insert, the removed ones in one bulk delete.
Adding 50,000 ids to a list is therefore one insert of 50,000 rows, not 50,000 statements. On
PostgreSQL the ids travel as array parameters (`unnest`, `= ANY`), which is many times faster
than 50,000 bound rows; SQLite's executemany is a loop in C and fast as it is.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY

from pushapi.schema.fields import Record, Report
from pushapi.schema.lists import ListMode, list_mode
from pushapi.schema.values import format_datetime
from pushapi.store.batch import chunks, insert_rows, select_in, update_rows
from pushapi.store.counts import Counts
from pushapi.store.records import PushBatch
from pushapi.store.tables import contacts, list_members, lists
from pushapi.tenants import Tenant

# Ids named in one warning; the warning gives the total, the push log caps warnings anyway.
NAMED_IDS = 10


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
    for index, record in enumerate(records):
        _warn_duplicates(record, index, report)
        created = record["ListId"] not in final
        if not _apply_record(record, final):
            counts.unchanged += 1
        elif created:
            counts.created += 1
        else:
            counts.updated += 1
    _warn_unknown_contacts(conn, tenant_id, records, report)
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


def _named(ids: Iterable[str]) -> str:
    ordered = sorted(ids)
    shown = ", ".join(repr(i) for i in ordered[:NAMED_IDS])
    more = len(ordered) - NAMED_IDS
    return f"{shown} and {more} more" if more > 0 else shown


def _warn_duplicates(record: Record, index: int, report: Report) -> None:
    """SPEC 4.2: duplicate ids collapse; SPEC 3.1: duplicates are a data-quality warning."""
    ids = record["ContactIds"] or []
    if len(set(ids)) == len(ids):
        return
    repeated = {contact_id: n for contact_id, n in Counter(ids).items() if n > 1}
    extra = sum(repeated.values()) - len(repeated)
    report.warn(index, "ContactIds", f"{extra} duplicate ids counted once: {_named(repeated)}")


def _warn_unknown_contacts(
    conn: Connection, tenant_id: int, records: list[Record], report: Report
) -> None:
    """SPEC 4.2: ids of contacts not known yet are kept as members and named in a warning."""
    adding = [
        (index, record)
        for index, record in enumerate(records)
        if record["ContactIds"] and list_mode(record) is not ListMode.REMOVE
    ]
    wanted = {contact_id for _, record in adding for contact_id in record["ContactIds"]}
    if not wanted:
        return
    known = _live_contacts(conn, tenant_id, wanted)
    for index, record in adding:
        unknown = set(record["ContactIds"]) - known
        if unknown:
            noun = "contact is" if len(unknown) == 1 else "contacts are"
            report.warn(
                index,
                "ContactIds",
                f"{len(unknown)} {noun} not known yet; kept as members: {_named(unknown)}",
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
    for chunk in chunks(sorted(cleared)):
        conn.execute(
            delete(list_members).where(
                list_members.c.tenant_id == tenant_id, list_members.c.list_id.in_(chunk)
            )
        )
    if removed:
        _delete_members(conn, tenant_id, removed)
    if added:
        _insert_members(conn, tenant_id, added)


def _id_array(name: str, values: list[str]) -> Any:
    return bindparam(name, values, type_=ARRAY(String))


def _live_contacts(conn: Connection, tenant_id: int, ids: set[str]) -> set[str]:
    """Which of `ids` are stored contacts of the tenant that are not deleted."""
    c = contacts.c
    query = select(c.contact_id).where(c.tenant_id == tenant_id, c.is_deleted.is_(False))
    if conn.dialect.name == "postgresql":
        rows = conn.execute(query.where(c.contact_id == any_(_id_array("ids", sorted(ids)))))
        return set(rows.scalars())
    return {row.contact_id for row in select_in(conn, query, c.contact_id, ids)}


def _insert_members(conn: Connection, tenant_id: int, pairs: list[tuple[str, str]]) -> None:
    """Insert (list_id, contact_id) member rows with one statement."""
    m = list_members.c
    if conn.dialect.name == "postgresql":
        rows = select(
            literal(tenant_id),
            func.unnest(_id_array("list_ids", [list_id for list_id, _ in pairs])),
            func.unnest(_id_array("contact_ids", [contact_id for _, contact_id in pairs])),
        )
        conn.execute(insert(list_members).from_select([m.tenant_id, m.list_id, m.contact_id], rows))
        return
    conn.execute(
        insert(list_members),
        [{"tenant_id": tenant_id, "list_id": lid, "contact_id": cid} for lid, cid in pairs],
    )


def _delete_members(conn: Connection, tenant_id: int, pairs: list[tuple[str, str]]) -> None:
    """Delete (list_id, contact_id) member rows with one statement."""
    m = list_members.c
    if conn.dialect.name == "postgresql":
        doomed = select(
            func.unnest(_id_array("list_ids", [list_id for list_id, _ in pairs])),
            func.unnest(_id_array("contact_ids", [contact_id for _, contact_id in pairs])),
        )
        conn.execute(
            delete(list_members).where(
                m.tenant_id == tenant_id, tuple_(m.list_id, m.contact_id).in_(doomed)
            )
        )
        return
    conn.execute(
        delete(list_members).where(
            m.tenant_id == tenant_id,
            m.list_id == bindparam("b_list"),
            m.contact_id == bindparam("b_contact"),
        ),
        [{"b_list": lid, "b_contact": cid} for lid, cid in pairs],
    )


def _list_json(row: Any) -> dict[str, Any]:
    return {
        "ListId": row.list_id,
        "ListName": row.list_name,
        "ListType": row.list_type,
        "MemberCount": row.member_count,
        "CreatedAt": format_datetime(row.created_at),
        "UpdatedAt": format_datetime(row.updated_at),
    }


def list_lists(
    conn: Connection, tenant_id: int, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of lists (without members) in ListId order, and where the next page starts."""
    query = select(lists).where(lists.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(lists.c.list_id > after)
    rows = conn.execute(query.order_by(lists.c.list_id).limit(limit + 1)).all()
    page = rows[:limit]
    next_after = page[-1].list_id if len(rows) > limit else None
    return [_list_json(row) for row in page], next_after


def get_list(
    conn: Connection, tenant_id: int, list_id: str, limit: int, after: str | None
) -> tuple[dict[str, Any], str | None] | None:
    """A list with a page of its ContactIds (in ContactId order), and where the next page starts."""
    row = conn.execute(
        select(lists).where(lists.c.tenant_id == tenant_id, lists.c.list_id == list_id)
    ).first()
    if row is None:
        return None
    m = list_members.c
    query = select(m.contact_id).where(m.tenant_id == tenant_id, m.list_id == list_id)
    if after is not None:
        query = query.where(m.contact_id > after)
    ids = list(conn.execute(query.order_by(m.contact_id).limit(limit + 1)).scalars())
    members = ids[:limit]
    next_after = members[-1] if len(ids) > limit else None
    return {**_list_json(row), "ContactIds": members}, next_after
