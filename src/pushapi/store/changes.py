"""The change feed (SPEC 8): the events of every committed push, numbered per tenant.

Written by the push's own transaction (`append_changes`), under the tenant's write lock, so a
tenant's `seq` is gapless and in commit order, and tenants still write in parallel. Stored
compactly: one row per run of up to CHANGES_PER_ROW consecutive events of a push, expanded on
read (`list_changes`).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from sqlalchemy import Connection, func, select

from pushapi.schema.values import format_datetime
from pushapi.store.counts import Counts
from pushapi.store.dialect import insert_few, run_driver
from pushapi.store.tables import change_events, tenant_state

# Every type of event, in a fixed order: its position is its code in the stored rows.
EVENT_TYPES = (
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "group.created",
    "group.updated",
    "list.created",
    "list.updated",
    "meeting.created",
    "meeting.updated",
    "meeting.deleted",
    "product.created",
    "product.updated",
    "product.deleted",
)
TYPE_CODES = {name: code for code, name in enumerate(EVENT_TYPES)}
CHANGES_PER_ROW = 1000
_EVENTS = msgspec.json.Decoder(list[tuple[int, str]])


class ChangeEvent(msgspec.Struct, rename="camel"):
    """One change event as the feed shows it."""

    seq: int
    type: str
    id: str
    request_id: str
    at: str


class CursorExpired(Exception):
    """The events after the cursor are no longer all kept (pruned by retention)."""

    def __init__(self, first_kept: int) -> None:
        super().__init__(f"the oldest event kept is seq {first_kept}")
        self.first_kept = first_kept


# Every push that changes something runs one: the tenant's change seq moves on by the number
# of its events and, when it wrote contacts, the contacts version (store/contacts.py) by one and
# the count of live contacts by a delta.
_TAKE_SEQS = (
    "UPDATE tenant_state SET change_seq = change_seq + ?"
    " WHERE tenant_state.tenant_id = ? RETURNING change_seq"
)
_TAKE_SEQS_AND_MOVE_CONTACTS = (
    "UPDATE tenant_state SET change_seq = change_seq + ?, contacts_version = contacts_version + 1,"
    " contact_count = contact_count + ? WHERE tenant_state.tenant_id = ? RETURNING change_seq"
)


def append_changes(conn: Connection, tenant_id: int, request_id: str, counts: Counts) -> None:
    """Append a push's change events, and move the tenant's contacts on when it wrote contacts;
    call inside its write transaction (the tenant's lock)."""
    changes, delta = counts.changes, counts.live_contacts_delta
    if delta is not None:
        parameters: tuple[int, ...] = (len(changes), delta, tenant_id)
        ((last,),) = run_driver(conn, _TAKE_SEQS_AND_MOVE_CONTACTS, parameters)
    elif changes:
        ((last,),) = run_driver(conn, _TAKE_SEQS, (len(changes), tenant_id))
    if not changes:
        return
    first = last - len(changes) + 1
    at = datetime.now(UTC)
    rows = []
    for start in range(0, len(changes), CHANGES_PER_ROW):
        run = changes[start : start + CHANGES_PER_ROW]
        rows.append(
            {
                "tenant_id": tenant_id,
                "first_seq": first + start,
                "last_seq": first + start + len(run) - 1,
                "request_id": request_id,
                "at": at,
                "events": msgspec.json.encode([(TYPE_CODES[t], key) for t, key in run]).decode(),
            }
        )
    insert_few(conn, change_events, rows)


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """Where a tenant's feed stands: its latest seq and the first seq still kept."""

    latest: int
    first_kept: int


def feed_position(conn: Connection, tenant_id: int) -> FeedPosition:
    latest = conn.execute(
        select(tenant_state.c.change_seq).where(tenant_state.c.tenant_id == tenant_id)
    ).scalar_one()
    first = conn.execute(
        select(func.min(change_events.c.first_seq)).where(change_events.c.tenant_id == tenant_id)
    ).scalar_one()
    return FeedPosition(int(latest), int(first) if first is not None else int(latest) + 1)


ROWS_PER_READ = 8


def _events_after(conn: Connection, tenant_id: int, after: int) -> Iterator[ChangeEvent]:
    """Every kept event with seq > after, in order, expanded from the stored rows (read a few
    rows at a time: a page of 100 events needs one row or two)."""
    table = change_events
    query = select(table.c.first_seq, table.c.request_id, table.c.at, table.c.events).order_by(
        table.c.first_seq
    )
    # A row holds at most CHANGES_PER_ROW events: the first row needed starts after this.
    start = after - CHANGES_PER_ROW
    while True:
        rows = conn.execute(
            query.where(
                table.c.tenant_id == tenant_id,
                table.c.first_seq > start,
                table.c.last_seq > after,
            ).limit(ROWS_PER_READ)
        ).all()
        for row in rows:
            at = format_datetime(row.at)
            for offset, (code, key) in enumerate(_EVENTS.decode(row.events)):
                seq = row.first_seq + offset
                if seq > after:
                    yield ChangeEvent(seq, EVENT_TYPES[code], key, row.request_id, at)
        if len(rows) < ROWS_PER_READ:
            return
        start = rows[-1].first_seq


def list_changes(
    conn: Connection, tenant_id: int, after: int, limit: int, types: frozenset[str] | None
) -> tuple[list[ChangeEvent], int | None]:
    """Up to `limit` events after `after` (of `types`, when given), and the `after` of the next
    page when more such events exist now (else None). CursorExpired when events after `after`
    were pruned."""
    position = feed_position(conn, tenant_id)
    if after < position.first_kept - 1 and after < position.latest:
        raise CursorExpired(position.first_kept)
    found: list[ChangeEvent] = []
    for event in _events_after(conn, tenant_id, after):
        if types is None or event.type in types:
            if len(found) == limit:
                return found, found[-1].seq
            found.append(event)
    return found, None
