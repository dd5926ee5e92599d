"""The queries behind the console's pages (SPEC 9): each scoped to one tenant and paged with the
keyset helper, except the operators' overview, which pages through tenants.

The overview stays fast however long the push log: contacts are counted as pushes write them
(tenant_state.contact_count), outcomes per day are added up as the push log is written
(push_days), and the last push and the pushes of the last 24 hours are ranges of the push log's
primary key (tenant_id, request_id), whose request ids sort by time.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, func, or_, select

from pushapi.request_ids import first_request_id_at
from pushapi.schema.values import format_datetime
from pushapi.store.changes import EVENT_TYPES, ChangeEvent
from pushapi.store.documents import load_json
from pushapi.store.paging import keyset_page
from pushapi.store.pushlog import DAY_COUNTS, PushLogEntry, entry_of
from pushapi.store.tables import (
    change_events,
    contacts,
    push_days,
    push_log,
    tenant_state,
    tenants,
)
from pushapi.store.tenants import tenant_from_row
from pushapi.tenants import Tenant

OUTCOMES = ("created", "updated", "deleted", "unchanged", "rejected")


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class TenantSummary:
    """A line of the operators' overview."""

    code: str
    platform: str
    region: str
    contacts: int
    last_push_at: datetime | None
    last_status: int | None
    pushes_24h: int
    refused_24h: int


def tenant_summaries(
    conn: Connection,
    now: datetime,
    limit: int,
    after: str | None,
    tenant_id: int | None = None,
    prefix: str = "",
) -> tuple[list[TenantSummary], str | None]:
    """A page of tenants in code order (those whose code starts with `prefix`, or the one with
    `tenant_id`), each with its contacts, last push and pushes of the last 24 hours; and the
    code the next page starts after. Of every tenant, the statement reaches every tenant's push
    log (on Citus: every shard; call store/dialect.across_tenants first); of one, only its own."""
    t, log, state = tenants.c, push_log.c, tenant_state.c
    # Driven by tenant_state (every tenant has its row), which Citus keeps beside the tenant's
    # push log; one tenant's subqueries name it, so that each goes to its shard alone.
    mine = log.tenant_id == (state.tenant_id if tenant_id is None else tenant_id)
    since = first_request_id_at(_millis(now - timedelta(hours=24)))

    def last(column: Any) -> Any:
        newest = select(column).where(mine).order_by(log.request_id.desc()).limit(1)
        return newest.scalar_subquery()

    def count_since(*conditions: Any) -> Any:
        recent = select(func.count()).where(mine, log.request_id >= since, *conditions)
        return recent.scalar_subquery()

    query = (
        select(
            t.code,
            t.platform,
            t.region,
            state.contact_count,
            last(log.received_at).label("last_push_at"),
            last(log.status).label("last_status"),
            count_since().label("pushes_24h"),
            count_since(log.status != 200).label("refused_24h"),
        )
        .select_from(tenant_state)
        .join(tenants, t.tenant_id == state.tenant_id)
    )
    if tenant_id is not None:
        query = query.where(state.tenant_id == tenant_id)
    if prefix:
        query = query.where(t.code.startswith(prefix, autoescape=True))
    rows, next_after = keyset_page(conn, query, t.code, limit, after)
    summaries = [
        TenantSummary(
            row.code,
            row.platform,
            row.region,
            int(row.contact_count),
            _aware(row.last_push_at),
            row.last_status,
            int(row.pushes_24h),
            int(row.refused_24h),
        )
        for row in rows
    ]
    return summaries, next_after


def _aware(moment: datetime | None) -> datetime | None:
    """A timestamp read by a subquery, which the column type does not convert."""
    if moment is None:
        return None
    if isinstance(moment, str):  # SQLite hands the stored text back
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class DayOutcomes:
    """Records by outcome on one UTC day, and the pushes of that day."""

    day: date
    pushes: int
    refused_pushes: int
    created: int
    updated: int
    deleted: int
    unchanged: int
    rejected: int

    @property
    def records(self) -> int:
        return self.created + self.updated + self.deleted + self.unchanged + self.rejected


def outcome_days(
    conn: Connection, today: date, days: int = 14, tenant_id: int | None = None
) -> list[DayOutcomes]:
    """Each of the `days` days up to `today`, oldest first: of one tenant, or of all (on Citus,
    every shard: call store/dialect.across_tenants first)."""
    first = today - timedelta(days=days - 1)
    d = push_days.c
    query = (
        select(d.day, *(func.sum(d[name]).label(name) for name in DAY_COUNTS))
        .where(d.day >= first, d.day <= today)
        .group_by(d.day)
    )
    if tenant_id is not None:
        query = query.where(d.tenant_id == tenant_id)
    found = {row.day: row for row in conn.execute(query)}
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = found.get(day)
        values = [int(getattr(row, name) or 0) if row else 0 for name in DAY_COUNTS]
        result.append(DayOutcomes(day, *values))
    return result


@dataclass(frozen=True, slots=True)
class PushFilter:
    """The push log page's filters; None: any."""

    endpoint: str | None = None
    status: str | None = None  # "accepted", "refused", or a status code
    day: date | None = None


def filtered_pushes(
    conn: Connection, tenant_id: int, wanted: PushFilter, limit: int, before: str | None
) -> tuple[list[PushLogEntry], str | None]:
    """A page of the tenant's push log, newest first, as filtered."""
    log = push_log.c
    query = select(push_log).where(log.tenant_id == tenant_id)
    if wanted.endpoint:
        query = query.where(log.endpoint == wanted.endpoint)
    if wanted.status == "accepted":
        query = query.where(log.status == 200)
    elif wanted.status == "refused":
        query = query.where(log.status != 200)
    elif wanted.status:
        query = query.where(log.status == int(wanted.status))
    if wanted.day is not None:
        start = datetime(wanted.day.year, wanted.day.month, wanted.day.day, tzinfo=UTC)
        query = query.where(
            log.request_id >= first_request_id_at(_millis(start)),
            log.request_id < first_request_id_at(_millis(start + timedelta(days=1))),
        )
    rows, next_before = keyset_page(conn, query, log.request_id, limit, before, descending=True)
    return [entry_of(row) for row in rows], next_before


@dataclass(frozen=True, slots=True)
class ContactLine:
    """A contact as the search shows it."""

    contact_id: str
    name: str
    email: str
    is_deleted: bool
    updated_at: datetime


def search_contacts(
    conn: Connection, tenant_id: int, text: str, limit: int, after: str | None
) -> tuple[list[ContactLine], str | None]:
    """Contacts whose id starts with `text`, or whose record holds every word of it (a name,
    an e-mail address; any letter case), in ContactId order; every contact when it is empty."""
    c = contacts.c
    query = select(c.contact_id, c.doc, c.is_deleted, c.updated_at).where(c.tenant_id == tenant_id)
    words = text.split()
    if words:
        query = query.where(
            or_(
                c.contact_id.startswith(text.strip(), autoescape=True),
                and_(*(c.doc.icontains(word, autoescape=True) for word in words)),
            )
        )
    rows, next_after = keyset_page(conn, query, c.contact_id, limit, after)
    return [_contact_line(row) for row in rows], next_after


def _contact_line(row: Any) -> ContactLine:
    details = load_json(row.doc)["ContactDetails"]
    name = " ".join(
        str(details[part]) for part in ("FirstName", "LastName") if details.get(part)
    ) or str(details.get("OrganizationName") or "")
    email = str(details.get("PrimaryEmailAddress") or "")
    return ContactLine(row.contact_id, name, email, bool(row.is_deleted), row.updated_at)


_EVENTS = msgspec.json.Decoder(list[tuple[int, str]])


def latest_changes(conn: Connection, tenant_id: int, limit: int) -> list[ChangeEvent]:
    """The tenant's newest change events, newest first."""
    table = change_events.c
    found: list[ChangeEvent] = []
    before: int | None = None
    while len(found) < limit:
        query = select(table.first_seq, table.request_id, table.at, table.events).where(
            table.tenant_id == tenant_id
        )
        if before is not None:
            query = query.where(table.first_seq < before)
        rows: Sequence[Any] = conn.execute(query.order_by(table.first_seq.desc()).limit(4)).all()
        for row in rows:
            events = _EVENTS.decode(row.events)
            at = format_datetime(row.at)
            for offset in range(len(events) - 1, -1, -1):
                code, key = events[offset]
                found.append(
                    ChangeEvent(row.first_seq + offset, EVENT_TYPES[code], key, row.request_id, at)
                )
        if len(rows) < 4:
            break
        before = rows[-1].first_seq
    return found[:limit]


def find_tenant_in(conn: Connection, code: str) -> Tenant | None:
    """The tenant with this code, on an open connection; None when there is none."""
    row = conn.execute(select(tenants).where(tenants.c.code == code)).first()
    return None if row is None else tenant_from_row(row)
