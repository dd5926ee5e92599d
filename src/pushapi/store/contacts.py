"""Applying a valid ContactInfo push (SPEC 4.1) inside the push's transaction.

The contact itself is a whole record (store/records.py: one read of the stored hashes, a replay in
array order, bulk writes of what changed); its memberships and groups follow with a fixed number
of set-based statements, whatever the size of the batch.

A nightly sync mostly re-pushes contacts byte for byte as the night before. A contact row keeps
the digest of the exact bytes it was written from (`raw_hash`), and a pushed record with that
digest is known unchanged without being read at all (`recognise_contacts`). The digest is kept
only when those bytes alone decide the outcome: the record drew no warning, names no other
contact and orders no product (whose existence can change); it is seeded with what else decides
how a record is read: the tenant's platform and the fingerprint of the reading rules
(schema/fingerprint.py).
"""

from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from msgspec import Raw
from sqlalchemy import Connection

from pushapi.schema.fields import Record, Report
from pushapi.schema.fingerprint import reading_fingerprint
from pushapi.store.contact_rows import MEMBERSHIP_COLUMNS, contact_parts
from pushapi.store.counts import Counts
from pushapi.store.dialect import (
    delete_in,
    insert_values,
    rows_by_key,
    run_driver,
    streamed_inserts,
    streams_inserts,
    update_rows,
)
from pushapi.store.documents import content_hash, dump_document, raw_digests
from pushapi.store.groups import GroupAttributes, apply_group_attributes
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
from pushapi.store.tables import contacts, memberships, products
from pushapi.tenants import ESSENTIALS, Tenant

CONTACTS = RecordTable(
    contacts,
    "contact_id",
    "ContactDetails.ContactId",
    "contact",
    extra_columns=("raw_hash", "group_attributes"),
)


@dataclass(slots=True)
class PushedContact(PushedRecord):
    """One pushed contact: its stored document, and the rows and checks that go with it."""

    membership_rows: list[tuple[Any, ...]] = field(default_factory=list)  # MEMBERSHIP_COLUMNS
    group_attributes: list[GroupAttributes] = field(default_factory=list)
    references: list[tuple[str, str]] = field(default_factory=list)  # (path, ContactId)
    orders: list[tuple[int, str]] = field(default_factory=list)  # (position, ProductId)


def raw_seed(tenant: Tenant) -> bytes:
    """What besides its bytes decides how a tenant's pushed contact is read."""
    return f"contactinfo:{reading_fingerprint()}:{tenant.platform}".encode()


# The statements every push of contacts runs; the tenant is their parameter.
_CONTACTS_VERSION = "SELECT contacts_version FROM tenant_state WHERE tenant_state.tenant_id = ?"


def _contacts_version(conn: Connection, tenant_id: int) -> int:
    (version,) = run_driver(conn, _CONTACTS_VERSION, (tenant_id,))
    return int(version[0])


def recognise_contacts(
    conn: Connection, tenant: Tenant, raws: list[Raw], versioned: bool
) -> Recognition:
    """The digest of each pushed record, and the records a live contact was written from.

    A large push reads this outside its write transaction (`versioned`), so that reading the
    rest does not hold the write lock. The tenant's contacts_version is then read first: the
    push trusts what was found only if the version has not moved since (`recognition_holds`).
    """
    digests = raw_digests(raws, raw_seed(tenant))
    columns = ("raw_hash", "contact_id", "content_hash", "group_attributes")
    version = _contacts_version(conn, tenant.tenant_id) if versioned else None
    rows = rows_by_key(
        conn, contacts, columns, tenant.tenant_id, "raw_hash", digests, live_only=True
    )
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


def recognition_holds(conn: Connection, tenant: Tenant, recognition: Recognition) -> bool:
    """Whether no contact of the tenant was written since `recognition` was made, so that the
    rows it found are still as found (inside the push's transaction)."""
    return recognition.version == _contacts_version(conn, tenant.tenant_id)


def prepare_contact(record: Record, index: int, essentials: bool) -> PushedContact:
    """Normalise one valid ContactInfo record into its stored document and membership rows."""
    contact_id = record["ContactDetails"]["ContactId"]
    if record["ContactDetails"]["IsDeleted"] is True:
        # SPEC 4.1: a deletion needs only ContactId; the rest of the record is not applied.
        return PushedContact(index, contact_id, deleting=True)
    rows, attributes, references, orders = contact_parts(record, essentials)
    document = dump_document(record)
    return PushedContact(
        index,
        contact_id,
        deleting=False,
        document=document.decode(),
        digest=content_hash(document),
        membership_rows=rows,
        group_attributes=attributes,
        references=references,
        orders=orders,
    )


# The group attributes kept with a contact's digest (_digest_columns), read back as tuples.
_STORED_ATTRIBUTES = msgspec.json.Decoder(list[GroupAttributes])


def _recognised(r: Recognised) -> PushedContact:
    """A recognised record: the stored digest and group attributes, and no document, so that
    the replay counts it unchanged and nothing is written from it."""
    return PushedContact(
        r.index,
        r.key,
        deleting=False,
        digest=r.stored_digest,
        group_attributes=_STORED_ATTRIBUTES.decode(r.stored_extra) if r.stored_extra else [],
    )


def apply_contact_push(
    conn: Connection, tenant: Tenant, batch: PushBatch, report: Report, now: datetime
) -> Counts:
    """Apply valid ContactInfo records in array order; return what happened to each.

    Recognised records in `batch` are taken as unchanged: the caller checked that the
    recognition holds (`recognition_holds`).
    """
    records = batch.records
    keys = [
        item.key if isinstance(item, Recognised) else item["ContactDetails"]["ContactId"]
        for item in records
    ]
    recognised = [item for item in records if isinstance(item, Recognised)]
    read = [
        key for key, item in zip(keys, records, strict=True) if not isinstance(item, Recognised)
    ]
    stored = stored_states(conn, CONTACTS, tenant.tenant_id, read)
    for r in recognised:
        stored.setdefault(r.key, RecordState(True, False, r.stored_digest, None, r.raw_digest))
    pushed, inserted = _prepare_contacts(conn, tenant, batch, keys, stored, report, now)
    if recognised:
        pushed.extend(_recognised(r) for r in recognised)
        pushed.sort(key=lambda p: p.index)
    _keep_raw_digests(pushed, batch.raw_digests, report)
    final = {key: RecordState(s.exists, s.deleted, s.digest) for key, s in stored.items()}
    counts = replay(CONTACTS, pushed, final, report)
    written = write_records(conn, CONTACTS, tenant.tenant_id, stored, final, now, inserted)
    _remember_raw_digests(conn, tenant.tenant_id, pushed, stored, final)
    if counts.created or counts.updated or counts.deleted:
        counts.live_contacts_delta = _live(final.values()) - _live(stored.values())
    _replace_memberships(conn, tenant.tenant_id, written, stored)
    counts.changes += apply_group_attributes(
        conn, tenant.tenant_id, (entry for p in pushed for entry in p.group_attributes), now
    )
    _warn_unknown_references(conn, tenant.tenant_id, pushed, final, report)
    _warn_unknown_products(conn, tenant.tenant_id, pushed, report)
    return counts


def _live(states: Iterable[RecordState]) -> int:
    """How many of these records are stored and not deleted."""
    return sum(1 for state in states if state.exists and not state.deleted)


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
    inserted as soon as it is prepared (dialect.streamed_inserts): the database stores it on
    the other CPU while the next is prepared (docs/benchmark.md, "How the push path is
    built"). Its row is the one write_records would write, as the replay can only create it.
    """
    essentials = tenant.platform == ESSENTIALS
    pairs = [
        (index, item)
        for index, item in zip(batch.indexes, batch.records, strict=True)
        if not isinstance(item, Recognised)
    ]
    if not (STREAM_NEW_CONTACTS and streams_inserts(conn)):
        return [prepare_contact(item, index, essentials) for index, item in pairs], set()
    times = Counter(keys)
    new = {
        index
        for index, item in pairs
        if (key := item["ContactDetails"]["ContactId"]) not in stored
        and times[key] == 1
        and item["ContactDetails"]["IsDeleted"] is not True
    }
    pushed: list[PushedContact] = []
    inserted: set[str] = set()
    warned = {warning.index for warning in report.warnings}  # while the records were read
    with ExitStack() as stack:
        insert = None
        if new:
            columns = new_row_columns(CONTACTS)
            insert = stack.enter_context(streamed_inserts(conn, contacts, columns))
        for index, item in pairs:
            p = prepare_contact(item, index, essentials)
            pushed.append(p)
            if insert is not None and index in new:
                p.columns = _digest_columns(p, batch.raw_digests, index in warned)
                state = RecordState(True, False, p.digest, p)
                insert(tuple(new_row(CONTACTS, tenant.tenant_id, state, p.key, now).values()))
                inserted.add(p.key)
    return pushed, inserted


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
    attributes = msgspec.json.encode(p.group_attributes).decode() if p.group_attributes else None
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


def _warn_unknown_references(
    conn: Connection,
    tenant_id: int,
    pushed: list[PushedContact],
    final: dict[str, RecordState],
    report: Report,
) -> None:
    """SPEC 4.1: a ParentContactId or PrimaryContactContactId not known is a warning."""
    wanted = {target for p in pushed for _, target in p.references if target not in final}
    found = rows_by_key(
        conn, contacts, ("contact_id",), tenant_id, "contact_id", wanted, live_only=True
    )
    known = {row[0] for row in found}
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
    wanted = {product_id for _, _, product_id in orders}
    found = rows_by_key(
        conn, products, ("product_id",), tenant_id, "product_id", wanted, live_only=True
    )
    known = {row[0] for row in found}
    for index, position, product_id in orders:
        if product_id not in known:
            report.warn(
                index, f"Orders[{position}].ProductId", f"no product {product_id!r} is known"
            )
