"""The answers kept for Idempotency-Key (SPEC 3.2), scoped to the tenant.

    claim (its own short transaction) -> the push runs
      -> 200: complete() inside the push's transaction (the answer commits with the push)
      -> 400: complete() in a transaction of its own, just after
      -> anything else: release() (nothing ran: a retry with the key runs)

A claim is a row without a status. A second request with the key finds it: while the first
runs, 409; once it answered, its answer (same request) or 422 (another one). A claim whose
request died with its process is taken over once its lease has passed; the request that lost its
claim that way finds out when it completes, and its push is rolled back, so a keyed request is
applied once at most. Rows are kept until `expires_at`, then pruned (store/retention.py); an
expired row is taken over like an absent one, so correctness never waits for pruning.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Engine, Row, and_, delete, select, update

from pushapi.store.dialect import insert_if_absent
from pushapi.store.tables import idempotency_keys

# How long a running request holds its key before another request may take it over (a request
# whose process was killed holds it this long); pushes taking longer are safe (see above).
LEASE = timedelta(seconds=30)
RETRY_AFTER_MAX = 5  # seconds: the Retry-After of 409 is the lease left, at most this


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """An answer kept for a key: status, body bytes, and the request id it carried."""

    status: int
    body: bytes
    request_id: str


@dataclass(frozen=True, slots=True)
class Claim:
    """What a request found for its key: `claimed` (run it), `replay` (answer `kept`), `in_use`
    (retry after `retry_after` s) or `reused` (the key answered another request)."""

    outcome: Literal["claimed", "replay", "in_use", "reused"]
    kept: KeptAnswer | None = None
    retry_after: int = 0


def _key(tenant_id: int, key: str) -> ColumnElement[bool]:
    return and_(
        idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.idempotency_key == key
    )


def claim(
    engine: Engine,
    tenant_id: int,
    key: str,
    fingerprint: str,
    request_id: str,
    now: datetime,
    ttl: timedelta,
) -> Claim:
    """Claim `key` for the request `request_id`, or say why not."""
    row = {
        "tenant_id": tenant_id,
        "idempotency_key": key,
        "fingerprint": fingerprint,
        "request_id": request_id,
        "status": None,
        "answer": None,
        "lease_until": now + LEASE,
        "expires_at": now + ttl,
    }
    # First a plain read: a replay or a refusal needs no write, and does not wait for a write
    # lock (SQLite's is held by any push running, the key's own first request among them).
    with engine.connect() as conn:
        found = conn.execute(select(idempotency_keys).where(_key(tenant_id, key))).first()
    if found is not None and not _free(found, now):
        return _taken(found, fingerprint, now)
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        if found is None and insert_if_absent(conn, idempotency_keys, row):
            return Claim("claimed")
        found = conn.execute(
            select(idempotency_keys).where(_key(tenant_id, key)).with_for_update()
        ).one()
        if not _free(found, now):
            return _taken(found, fingerprint, now)
        # Expired, or its request's process died: the key is free again.
        conn.execute(update(idempotency_keys).where(_key(tenant_id, key)).values(**row))
        return Claim("claimed")


def _free(found: Row[Any], now: datetime) -> bool:
    """Whether a key's row may be taken over: expired, or running past its lease."""
    running = found.status is None
    return bool(found.expires_at <= now or (running and found.lease_until <= now))


def _taken(found: Row[Any], fingerprint: str, now: datetime) -> Claim:
    """What a request finds for a key held by another: 409, 422 or the answer to replay."""
    if found.status is None:
        left = (found.lease_until - now).total_seconds()
        return Claim("in_use", retry_after=max(1, min(RETRY_AFTER_MAX, int(left) + 1)))
    if found.fingerprint != fingerprint:
        return Claim("reused")
    return Claim("replay", KeptAnswer(found.status, found.answer.encode(), found.request_id))


def complete(
    conn: Connection, tenant_id: int, key: str, request_id: str, status: int, body: bytes
) -> bool:
    """Keep the answer of the request that claimed `key`; False when its claim was taken over
    (the caller must then not commit what it did)."""
    done = conn.execute(
        update(idempotency_keys)
        .where(
            _key(tenant_id, key),
            idempotency_keys.c.request_id == request_id,
            idempotency_keys.c.status.is_(None),
        )
        .values(status=status, answer=body.decode(), lease_until=None)
    )
    return done.rowcount == 1


def complete_alone(
    engine: Engine, tenant_id: int, key: str, request_id: str, status: int, body: bytes
) -> None:
    """complete() in a transaction of its own (an answer whose push wrote nothing)."""
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        complete(conn, tenant_id, key, request_id, status, body)


def release(engine: Engine, tenant_id: int, key: str, request_id: str) -> None:
    """Give up the claim of `request_id` on `key`: its request ran nothing that is kept."""
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(
            delete(idempotency_keys).where(
                _key(tenant_id, key),
                idempotency_keys.c.request_id == request_id,
                idempotency_keys.c.status.is_(None),
            )
        )
