"""The push log (SPEC 6): one row per push request, accepted or refused; never the payload."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from pushapi.errors import Issue
from pushapi.schema.values import format_datetime
from pushapi.store.counts import Counts
from pushapi.store.dialect import insert_few, insert_or_add
from pushapi.store.paging import keyset_page
from pushapi.store.tables import push_days, push_log

# Warnings and errors kept per logged push; the response itself always carries all of them.
LOGGED_ISSUES = 100


@dataclass(frozen=True, slots=True)
class LoggedPush:
    """What the log keeps of one push request."""

    request_id: str
    endpoint: str
    key_id: str | None
    received_at: datetime
    status: int
    duration_ms: float
    received: int = 0
    counts: Counts = field(default_factory=Counts)
    rejected: int = 0  # records left out (onError=skip)
    dry_run: bool = False
    warnings: list[Issue] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    error: str | None = None
    message: str | None = None


class _Detail(msgspec.Struct):
    """The `detail` column: what is kept of a push besides its counts (JSON)."""

    error: str | None
    message: str | None
    warnings: list[Issue]
    errors: list[Issue]


class PushLogEntry(msgspec.Struct, rename="camel"):
    """One push request as the push log shows it (GET /v2/pushes)."""

    request_id: str
    endpoint: str
    received_at: str
    key_id: str | None
    status: int
    error: str | None
    message: str | None
    received: int
    created: int
    updated: int
    deleted: int
    unchanged: int
    rejected: int
    warning_count: int
    error_count: int
    warnings: list[Issue]
    errors: list[Issue]
    duration_ms: float
    dry_run: bool


def push_log_row(tenant_id: int, entry: LoggedPush) -> dict[str, Any]:
    """The push_log row that keeps `entry`."""
    detail = _Detail(
        entry.error,
        entry.message,
        entry.warnings[:LOGGED_ISSUES],
        entry.errors[:LOGGED_ISSUES],
    )
    return {
        "tenant_id": tenant_id,
        "request_id": entry.request_id,
        "endpoint": entry.endpoint,
        "received_at": entry.received_at,
        "key_id": entry.key_id,
        "status": entry.status,
        "received": entry.received,
        "created": entry.counts.created,
        "updated": entry.counts.updated,
        "deleted": entry.counts.deleted,
        "unchanged": entry.counts.unchanged,
        "rejected": entry.rejected,
        "dry_run": entry.dry_run,
        "warning_count": len(entry.warnings),
        "error_count": len(entry.errors),
        "detail": msgspec.json.encode(detail).decode(),
        "duration_ms": round(entry.duration_ms, 3),
    }


def write_push_log(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert push_log rows (push_log_row), and add them to the per-day counts of push_days:
    two statements per call."""
    if rows:
        insert_few(conn, push_log, rows)
        insert_or_add(conn, push_days, day_counts(rows), DAY_COUNTS)


DAY_COUNTS = ("pushes", "refused_pushes", "created", "updated", "deleted", "unchanged", "rejected")


def day_counts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """push_log rows added up per tenant and UTC day, as push_days rows. The records of a dry
    run count in no outcome; those of a refused push count as rejected."""
    days: dict[tuple[int, date], dict[str, Any]] = {}
    for row in rows:
        day = row["received_at"].astimezone(UTC).date()
        counts = days.setdefault(
            (row["tenant_id"], day),
            {"tenant_id": row["tenant_id"], "day": day} | dict.fromkeys(DAY_COUNTS, 0),
        )
        counts["pushes"] += 1
        accepted = row["status"] == 200
        counts["refused_pushes"] += not accepted
        if row["dry_run"]:
            continue
        for outcome in ("created", "updated", "deleted", "unchanged"):
            counts[outcome] += row[outcome]
        counts["rejected"] += row["rejected"] if accepted else row["received"]
    return list(days.values())


_DETAIL_DECODER = msgspec.json.Decoder(_Detail)


def entry_of(row: Any) -> PushLogEntry:
    """A row of push_log as the log shows it."""
    detail = _DETAIL_DECODER.decode(row.detail)
    return PushLogEntry(
        request_id=row.request_id,
        endpoint=row.endpoint,
        received_at=format_datetime(row.received_at),
        key_id=row.key_id,
        status=row.status,
        error=detail.error,
        message=detail.message,
        received=row.received,
        created=row.created,
        updated=row.updated,
        deleted=row.deleted,
        unchanged=row.unchanged,
        rejected=row.rejected,
        warning_count=row.warning_count,
        error_count=row.error_count,
        warnings=detail.warnings,
        errors=detail.errors,
        duration_ms=row.duration_ms,
        dry_run=row.dry_run,
    )


def list_push_entries(
    conn: Connection, tenant_id: int, limit: int, before: str | None
) -> tuple[list[PushLogEntry], str | None]:
    """Newest first; `before` is the request id the previous page ended with."""
    query = select(push_log).where(push_log.c.tenant_id == tenant_id)
    rows, next_before = keyset_page(
        conn, query, push_log.c.request_id, limit, before, descending=True
    )
    return [entry_of(row) for row in rows], next_before


def get_push_entry(conn: Connection, tenant_id: int, request_id: str) -> PushLogEntry | None:
    row = conn.execute(
        select(push_log).where(
            push_log.c.tenant_id == tenant_id, push_log.c.request_id == request_id
        )
    ).first()
    return None if row is None else entry_of(row)
