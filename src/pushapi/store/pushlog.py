"""The push log (SPEC 6): one row per push request, accepted or rejected; never the payload."""

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from pushapi.errors import Issue
from pushapi.schema.values import format_datetime
from pushapi.store.counts import Counts
from pushapi.store.tables import push_log

# Warnings and errors kept per logged push; the response itself always carries all of them.
LOGGED_ISSUES = 100


_last_request_value = 0
_request_id_lock = threading.Lock()
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base 32, lower case


def new_request_id() -> str:
    """A 26-character id that sorts by time: 48 bits of milliseconds, then 80 random bits.

    Within one process the ids strictly increase, so the push log lists pushes of the same
    millisecond in the order they arrived.
    """
    global _last_request_value
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    with _request_id_lock:
        if value <= _last_request_value:
            value = _last_request_value + 1
        _last_request_value = value
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


@dataclass(slots=True)
class PushEntry:
    """What the log keeps of one push request."""

    request_id: str
    endpoint: str
    key_id: str | None
    received_at: datetime
    status: int = 200
    received: int = 0
    counts: Counts = field(default_factory=Counts)
    warnings: list[Issue] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    error: str | None = None
    message: str | None = None
    duration_ms: float = 0.0
    started: float = field(default_factory=time.perf_counter)


def write_push_entry(conn: Connection, tenant_id: int, entry: PushEntry) -> None:
    detail = {
        "error": entry.error,
        "message": entry.message,
        "warnings": [w.as_json() for w in entry.warnings[:LOGGED_ISSUES]],
        "errors": [e.as_json() for e in entry.errors[:LOGGED_ISSUES]],
    }
    conn.execute(
        insert(push_log).values(
            tenant_id=tenant_id,
            request_id=entry.request_id,
            endpoint=entry.endpoint,
            received_at=entry.received_at,
            key_id=entry.key_id,
            status=entry.status,
            received=entry.received,
            created=entry.counts.created,
            updated=entry.counts.updated,
            deleted=entry.counts.deleted,
            unchanged=entry.counts.unchanged,
            warning_count=len(entry.warnings),
            error_count=len(entry.errors),
            detail=orjson.dumps(detail).decode(),
            duration_ms=round(entry.duration_ms, 3),
        )
    )


def _entry_json(row: Any) -> dict[str, Any]:
    detail = orjson.loads(row.detail)
    return {
        "requestId": row.request_id,
        "endpoint": row.endpoint,
        "receivedAt": format_datetime(row.received_at),
        "keyId": row.key_id,
        "status": row.status,
        "error": detail["error"],
        "message": detail["message"],
        "received": row.received,
        "created": row.created,
        "updated": row.updated,
        "deleted": row.deleted,
        "unchanged": row.unchanged,
        "warningCount": row.warning_count,
        "errorCount": row.error_count,
        "warnings": detail["warnings"],
        "errors": detail["errors"],
        "durationMs": row.duration_ms,
    }


def list_push_entries(
    conn: Connection, tenant_id: int, limit: int, before: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; `before` is the request id the previous page ended with."""
    query = select(push_log).where(push_log.c.tenant_id == tenant_id)
    if before is not None:
        query = query.where(push_log.c.request_id < before)
    rows = conn.execute(query.order_by(push_log.c.request_id.desc()).limit(limit + 1)).all()
    next_cursor = rows[limit - 1].request_id if len(rows) > limit else None
    return [_entry_json(row) for row in rows[:limit]], next_cursor


def get_push_entry(conn: Connection, tenant_id: int, request_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(push_log).where(
            push_log.c.tenant_id == tenant_id, push_log.c.request_id == request_id
        )
    ).first()
    return None if row is None else _entry_json(row)
