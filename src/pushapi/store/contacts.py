"""Applying a validated ContactInfo push (SPEC 4.1) inside the push's transaction.

The contact itself is a whole record (store/records.py: one read of the stored hashes, a replay in
array order, bulk writes of what changed); its memberships and groups follow with a fixed number
of set-based statements, whatever the size of the batch.

A nightly sync mostly re-pushes contacts byte for byte as the night before. A contact row keeps
the digest of the exact bytes it was written from (`raw_hash`), and a pushed record with that
digest is known unchanged without being read at all. The digest is kept only when those bytes
alone decide the outcome: the record drew no warning, names no other contact and orders no
product (whose existence can change), and it is seeded with what else decides how a record is
read (RAW_READING_VERSION and the tenant's platform).
"""

from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from msgspec import Raw
from sqlalchemy import Connection, Engine, select, update

from pushapi.errors import ValidationFailed
from pushapi.schema.contact import (
    CONTACT_INFO,
    GROUP_ATTRIBUTES,
    NOT_ON_ESSENTIALS,
)
from pushapi.schema.fields import Record, Report, parse_object
from pushapi.schema.values import Kind, plausible_email
from pushapi.store.batch import (
    delete_in,
    fetch_in,
    insert_rows,
    insert_values,
    select_in,
    streamed_inserts,
    update_rows,
)
from pushapi.store.counts import Counts
from pushapi.store.documents import (
    content_hash,
    decode_record,
    dump_document,
    raw_digests,
)
from pushapi.store.records import (
    PushBatch,
    PushedRecord,
    Recognised,
    Recognition,
    RecordState,
    RecordTable,
    new_row,
    new_row_columns,
    replay,
    stored_states,
    write_records,
)
from pushapi.store.tables import (
    GROUP_ATTRIBUTE_COLUMNS,
    contacts,
    groups,
    memberships,
    products,
    tenants,
)
from pushapi.tenants import Tenant

COLLECTIONS = tuple(f.name for f in CONTACT_INFO.fields if f.kind is Kind.OBJECT_LIST)
CONTACT_REFERENCES = ("ParentContactId", "PrimaryContactContactId")

try:  # _normalise's usual case as native code, built at install (store/native.pyx)
    from pushapi.store.native import contact_parts
except ImportError:  # pragma: no cover - installed without a C compiler
    contact_parts = None  # type: ignore[assignment]


# Change it whenever a change to the schema or to this module changes how a pushed contact is
# read, checked or stored: digests kept under the old value are then no longer recognised.
RAW_READING_VERSION = 1

CONTACTS = RecordTable(
    contacts,
    "contact_id",
    "ContactDetails.ContactId",
    "contact",
    extra_columns=("raw_hash", "group_attributes"),
)
# (GroupId, GroupName, GroupType, GroupSubType) of one Groups entry, as pushed and normalised.
GroupAttributes = tuple[str, str | None, str | None, str | None]
MEMBERSHIP_COLUMNS = ("position", "group_id", "role", "initial_join_date", "begin_date", "end_date")


@dataclass(slots=True)
class PushedContact(PushedRecord):
    """One pushed contact: its stored document, and the rows and checks that go with it."""

    # (position, group_id, role, initial_join_date, begin_date, end_date): MEMBERSHIP_COLUMNS
    membership_rows: list[tuple[Any, ...]] = field(default_factory=list)
    group_attributes: list[GroupAttributes] = field(default_factory=list)
    references: list[tuple[str, str]] = field(default_factory=list)  # (path, ContactId)
    orders: list[tuple[int, str]] = field(default_factory=list)  # (position, ProductId)


def raw_seed(tenant: Tenant) -> bytes:
    """What besides its bytes decides how a tenant's pushed contact is read."""
    return f"contactinfo:{RAW_READING_VERSION}:{tenant.platform}".encode()


def recognise_contacts(engine: Engine, tenant: Tenant, raws: list[Raw]) -> Recognition:
    """The digest of each pushed record, and the records a live contact was written from.

    One read outside the write transaction, so that validation of the rest does not hold the
    write lock. The tenant's contacts_version is read first: apply_contact_push trusts what was
    found only if the version has not moved since, and checks each row again otherwise.
    """
    seed = raw_seed(tenant)
    digests = raw_digests(raws, seed)
    with engine.connect() as conn:
        version = _contacts_version(conn, tenant.tenant_id)
        mark = "%s" if conn.dialect.name == "postgresql" else "?"
        rows = fetch_in(conn, RECOGNISE_SQL.replace("{mark}", mark), (tenant.tenant_id,), digests)
    found = {row[0]: row for row in rows}
    known = {}
    for index, digest in enumerate(digests):
        row = found.get(digest)
        if row is not None:
            _, contact_id, content_digest, attributes = row
            known[index] = Recognised(
                index, raws[index], contact_id, digest, content_digest, attributes
            )
    return Recognition(digests, known, version)


# The hottest lookup of a nightly sync: a live contact whose row holds one of the digests.
RECOGNISE_SQL = (
    "SELECT raw_hash, contact_id, content_hash, group_attributes FROM contacts"
    " WHERE contacts.tenant_id = {mark} AND NOT is_deleted AND raw_hash {in}"
)


def _contacts_version(conn: Connection, tenant_id: int) -> int:
    query = select(tenants.c.contacts_version).where(tenants.c.tenant_id == tenant_id)
    return int(conn.execute(query).scalar_one())


def prepare_contact(record: Record, index: int, tenant: Tenant, report: Report) -> PushedContact:
    """Normalise one valid ContactInfo record into its stored document and membership rows."""
    details = record["ContactDetails"]
    contact_id = details["ContactId"]
    if details["IsDeleted"] is True:
        # SPEC 4.1: a deletion needs only ContactId; the rest of the record is not applied.
        return PushedContact(index, contact_id, deleting=True)
    parts = None
    if contact_parts is not None and tenant.platform != "community-essentials":
        # The usual case in native code (store/native.pyx), the twin of _normalise.
        parts = contact_parts(record, COLLECTIONS, GROUP_ATTRIBUTES, CONTACT_REFERENCES)
    if parts is None:
        pushed = PushedContact(index, contact_id, deleting=False)
        _normalise(record, pushed, tenant, report)
    else:
        rows, attributes, references, orders = parts
        pushed = PushedContact(
            index,
            contact_id,
            deleting=False,
            membership_rows=rows,
            group_attributes=attributes,
            references=references,
            orders=orders,
        )
    document = dump_document(record)
    pushed.digest = content_hash(document)
    pushed.document = document.decode()
    return pushed


def _normalise(record: Record, pushed: PushedContact, tenant: Tenant, report: Report) -> None:
    """Normalise a record for storage in place; note its memberships, references and orders."""
    index = pushed.index
    details = record["ContactDetails"]
    if tenant.platform == "community-essentials":
        for name in NOT_ON_ESSENTIALS:
            if record[name]:
                report.warn(
                    index,
                    name,
                    f"not stored on community-essentials; {len(record[name])} entries ignored",
                )
                record[name] = []
    for name in COLLECTIONS:
        # SPEC 4 full replace: a collection left out (or null) is an empty collection.
        record[name] = record[name] or []
    details["IsDeleted"] = None  # the stored state is a column, not part of the content
    record["Groups"] = _memberships(record["Groups"], pushed, index, report)
    for name in CONTACT_REFERENCES:
        if details[name] is not None and details[name] != pushed.key:
            pushed.references.append((f"ContactDetails.{name}", details[name]))
    orders = record["Orders"]
    pushed.orders = [(position, order["ProductId"]) for position, order in enumerate(orders)]
    _warn_malformed_emails(record, index, report)


def _memberships(
    entries: list[Record], pushed: PushedContact, index: int, report: Report
) -> list[Record]:
    """Keep the last entry of each (GroupId, Role); strip the group's own attributes.

    The entries become the stored memberships: the group's attributes are taken out of them
    (they go to the group), leaving the membership's fields in table order.
    """
    last_position: dict[tuple[str, str | None], int] = {}
    for position, entry in enumerate(entries):
        key = (entry["GroupId"], entry["Role"])
        earlier = last_position.get(key)
        if earlier is not None:
            report.warn(
                index,
                f"Groups[{earlier}]",
                f"same GroupId and Role as Groups[{position}], which replaces it",
            )
        last_position[key] = position
        pushed.group_attributes.append((entry["GroupId"], *map(entry.pop, GROUP_ATTRIBUTES)))
    if len(last_position) < len(entries):
        entries = [
            entry
            for position, entry in enumerate(entries)
            if last_position[(entry["GroupId"], entry["Role"])] == position
        ]
    pushed.membership_rows = [
        (position, e["GroupId"], e["Role"], e["InitialJoinDate"], e["BeginDate"], e["EndDate"])
        for position, e in enumerate(entries)
    ]
    return entries


def _warn_malformed_emails(record: Record, index: int, report: Report) -> None:
    primary = record["ContactDetails"]["PrimaryEmailAddress"]
    if primary is not None and not plausible_email(primary):
        report.warn(index, "ContactDetails.PrimaryEmailAddress", "not a valid e-mail address")
    for position, email in enumerate(record["EmailAddresses"] or ()):
        if not plausible_email(email["EmailAddress"]):
            report.warn(
                index, f"EmailAddresses[{position}].EmailAddress", "not a valid e-mail address"
            )


def apply_contact_push(
    conn: Connection, tenant: Tenant, batch: PushBatch, report: Report, now: datetime
) -> Counts:
    """Apply valid ContactInfo records in array order; return what happened to each."""
    records = batch.records
    keys = [
        item.key if isinstance(item, Recognised) else item["ContactDetails"]["ContactId"]
        for item in records
    ]
    recognised = [item for item in records if isinstance(item, Recognised)]
    trusted = recognised and batch.recognised_at == _contacts_version(conn, tenant.tenant_id)
    if trusted:
        # No contact was written since the recognised ones were found: their rows are as found.
        read = [
            key for key, item in zip(keys, records, strict=True) if not isinstance(item, Recognised)
        ]
        stored = stored_states(conn, CONTACTS, tenant.tenant_id, read)
        for r in recognised:
            found = RecordState(True, False, r.stored_digest, None, r.raw_digest)
            stored.setdefault(r.key, found)
    else:
        stored = stored_states(conn, CONTACTS, tenant.tenant_id, keys)
    pushed, inserted = _prepare_contacts(conn, tenant, batch, keys, stored, report, now)
    for r in recognised:
        pushed.append(_recognised_contact(r, stored, tenant, report))
    if recognised:
        pushed.sort(key=lambda p: p.index)
    _keep_raw_digests(pushed, batch.raw_digests, report)
    final = {key: RecordState(s.exists, s.deleted, s.digest) for key, s in stored.items()}
    counts = replay(CONTACTS, pushed, final, report)
    written = write_records(conn, CONTACTS, tenant.tenant_id, stored, final, now, inserted)
    _remember_raw_digests(conn, tenant.tenant_id, pushed, stored, final)
    if counts.created or counts.updated or counts.deleted:
        conn.execute(
            update(tenants)
            .where(tenants.c.tenant_id == tenant.tenant_id)
            .values(contacts_version=tenants.c.contacts_version + 1)
        )
    _replace_memberships(conn, tenant.tenant_id, written, stored)
    _write_groups(conn, tenant.tenant_id, pushed, now)
    _warn_unknown_references(conn, tenant.tenant_id, pushed, final, report)
    _warn_unknown_products(conn, tenant.tenant_id, pushed, report)
    return counts


# Whether new contacts are inserted while the push is prepared (PostgreSQL); tests turn it off to
# compare the rows with those of write_records.
STREAM_NEW_CONTACTS = True


def _prepare_contacts(
    conn: Connection,
    tenant: Tenant,
    batch: PushBatch,
    keys: list[str],
    stored: dict[str, RecordState],
    report: Report,
    now: datetime,
) -> tuple[list[PushedContact], set[str]]:
    """prepare_contact for each record read in full, and the keys of those inserted already.

    On PostgreSQL a contact new to the tenant, pushed once in the batch and not deleted is
    inserted as soon as it is prepared (store/batch.streamed_inserts): the database stores it on
    the other CPU while the next is prepared. Its row is the one write_records would write, as
    the replay can only create it. (A throwaway script that wrote 1,000 documents to such a COPY
    while preparing them took 15-45 ms less than preparing them all first in 5 of 6 pairs of
    runs, and 1 ms less in the sixth.)
    """
    records = batch.records
    pushed: list[PushedContact] = []
    if conn.dialect.name != "postgresql" or not STREAM_NEW_CONTACTS:
        for index, item in enumerate(records):
            if not isinstance(item, Recognised):
                pushed.append(prepare_contact(item, index, tenant, report))
        return pushed, set()
    times = Counter(keys)
    new = {
        index
        for index, (key, item) in enumerate(zip(keys, records, strict=True))
        if not isinstance(item, Recognised)
        and key not in stored
        and times[key] == 1
        and item["ContactDetails"]["IsDeleted"] is not True
    }
    inserted: set[str] = set()
    warned = {warning.index for warning in report.warnings}  # while the records were read
    with ExitStack() as stack:
        insert = None
        if new:
            columns = new_row_columns(CONTACTS)
            insert = stack.enter_context(streamed_inserts(conn, contacts, columns))
        for index, item in enumerate(records):
            if isinstance(item, Recognised):
                continue
            warnings = len(report.warnings)
            p = prepare_contact(item, index, tenant, report)
            pushed.append(p)
            if insert is not None and index in new:
                warned_here = index in warned or len(report.warnings) > warnings
                p.columns = _digest_columns(p, batch.raw_digests, warned_here)
                state = RecordState(True, False, p.digest, p)
                insert(tuple(new_row(CONTACTS, tenant.tenant_id, state, p.key, now).values()))
                inserted.add(p.key)
    return pushed, inserted


def _recognised_contact(
    r: Recognised, stored: dict[str, RecordState], tenant: Tenant, report: Report
) -> PushedContact:
    """A recognised record, or the record read in full when its row changed since it was found.

    A recognised record carries the stored digest and no document: the replay counts it like any
    record with that content, and as it is what the row holds, it is never written from.
    """
    state = stored.get(r.key)
    if state is not None and not state.deleted and state.raw_digest == r.raw_digest:
        attributes = orjson.loads(r.stored_extra) if r.stored_extra else []
        return PushedContact(
            r.index,
            r.key,
            deleting=False,
            digest=state.digest,
            group_attributes=[tuple(entry) for entry in attributes],
        )
    record = parse_object(CONTACT_INFO, decode_record(r.raw), r.index, "", report)
    if record is None or report.errors:
        # Cannot happen: these exact bytes were stored once, valid and without warnings.
        raise ValidationFailed(report.errors)
    return prepare_contact(record, r.index, tenant, report)


def _keep_raw_digests(
    pushed: list[PushedContact], digests: list[str] | None, report: Report
) -> None:
    """Set the raw_hash to write with each contact (see _digest_columns)."""
    warned = {warning.index for warning in report.warnings}
    for p in pushed:
        if p.document == "":
            continue  # a deletion, or a recognised record: no document is written from it
        p.columns = _digest_columns(p, digests, p.index in warned)


def _digest_columns(
    p: PushedContact, digests: list[str] | None, warned: bool
) -> dict[str, str | None]:
    """raw_hash and group_attributes of a contact's row: its digest where its bytes alone decide
    how it is read and applied (no warning, no reference to another contact, no order); else
    null."""
    if digests is None or warned or p.references or p.orders:
        return {"raw_hash": None, "group_attributes": None}
    attributes = orjson.dumps(p.group_attributes).decode() if p.group_attributes else None
    return {"raw_hash": digests[p.index], "group_attributes": attributes}


def _remember_raw_digests(
    conn: Connection,
    tenant_id: int,
    pushed: list[PushedContact],
    stored: dict[str, RecordState],
    final: dict[str, RecordState],
) -> None:
    """Keep the digest of a record that left its contact unchanged but came as other bytes
    (another formatting, or a contact stored before digests were kept), so that the next push of
    these bytes is recognised. Only the two digest columns change: not the document, not
    updated_at, so the contact is not reported as modified."""
    last = {p.key: p for p in pushed}
    rows = []
    for key, p in last.items():
        if p.deleting or not p.document or p.columns is None or p.columns["raw_hash"] is None:
            continue  # a deletion, a recognised record, or bytes that do not decide alone
        before, after = stored.get(key), final[key]
        if before is None or before.deleted or after.deleted or after.digest != before.digest:
            continue  # written in full above, or not live
        if before.raw_digest != p.columns["raw_hash"]:
            rows.append({"tenant_id": tenant_id, "contact_id": key, **p.columns})
    update_rows(conn, contacts, ("tenant_id", "contact_id"), rows)


def _replace_memberships(
    conn: Connection,
    tenant_id: int,
    written: list[PushedRecord],
    stored: dict[str, RecordState],
) -> None:
    """SPEC 4.1 full replace: a changed contact's memberships become exactly the pushed ones."""
    replaced = [p for p in written if isinstance(p, PushedContact)]
    delete_in(
        conn, memberships, tenant_id, "contact_id", [p.key for p in replaced if p.key in stored]
    )
    rows = [(tenant_id, p.key, *row) for p in replaced for row in p.membership_rows]
    insert_values(conn, memberships, ("tenant_id", "contact_id", *MEMBERSHIP_COLUMNS), rows)


def _write_groups(
    conn: Connection, tenant_id: int, pushed: list[PushedContact], now: datetime
) -> None:
    """SPEC 4.1: a group's name, type and subtype take the last pushed (non-null) value."""
    latest: dict[str, dict[str, Any]] = {}
    columns = [GROUP_ATTRIBUTE_COLUMNS[name] for name in GROUP_ATTRIBUTES]
    applied: dict[str, GroupAttributes] = {}  # the entry applied last, by group
    for p in pushed:
        for entry in p.group_attributes:
            group_id = entry[0]
            if applied.get(group_id) == entry:
                continue  # applying the same entry again changes nothing (the usual case)
            applied[group_id] = entry
            values = latest.setdefault(group_id, {})
            for column, value in zip(columns, entry[1:], strict=True):
                if value is not None:
                    values[column] = value
    if not latest:
        return
    query = select(groups).where(groups.c.tenant_id == tenant_id)
    existing = {row.group_id: row for row in select_in(conn, query, groups.c.group_id, latest)}
    new_rows, changed_rows = [], []
    for group_id, values in latest.items():
        row = existing.get(group_id)
        if row is None:
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
        elif any(getattr(row, column) != value for column, value in values.items()):
            merged = {column: getattr(row, column) for column in GROUP_ATTRIBUTE_COLUMNS.values()}
            merged.update(values)
            changed_rows.append(
                {"tenant_id": tenant_id, "group_id": group_id, **merged, "updated_at": now}
            )
    insert_rows(conn, groups, new_rows)
    update_rows(conn, groups, ("tenant_id", "group_id"), changed_rows)


def _warn_unknown_references(
    conn: Connection,
    tenant_id: int,
    pushed: list[PushedContact],
    final: dict[str, RecordState],
    report: Report,
) -> None:
    """SPEC 4.1: a ParentContactId or PrimaryContactContactId not known is a warning."""
    wanted = {target for p in pushed for _, target in p.references if target not in final}
    query = select(contacts.c.contact_id).where(
        contacts.c.tenant_id == tenant_id, contacts.c.is_deleted.is_(False)
    )
    known = {row.contact_id for row in select_in(conn, query, contacts.c.contact_id, wanted)}
    for p in pushed:
        for path, target in p.references:
            state = final.get(target)
            if target in known or (state is not None and state.exists and not state.deleted):
                continue
            report.warn(p.index, path, f"no contact {target!r} is known")


def _warn_unknown_products(
    conn: Connection, tenant_id: int, pushed: list[PushedContact], report: Report
) -> None:
    """SPEC 4.1: an order's ProductId that is not a stored, live product is a warning."""
    orders = [(p.index, position, product_id) for p in pushed for position, product_id in p.orders]
    if not orders:
        return
    query = select(products.c.product_id).where(
        products.c.tenant_id == tenant_id, products.c.is_deleted.is_(False)
    )
    wanted = {product_id for _, _, product_id in orders}
    known = {row.product_id for row in select_in(conn, query, products.c.product_id, wanted)}
    for index, position, product_id in orders:
        if product_id not in known:
            report.warn(
                index, f"Orders[{position}].ProductId", f"no product {product_id!r} is known"
            )
