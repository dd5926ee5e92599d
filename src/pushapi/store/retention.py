"""Pruning the push log (PUSHAPI_PUSHLOG_RETENTION_DAYS), the change feed
(PUSHAPI_CHANGES_RETENTION_DAYS), the expired answers of Idempotency-Keys
(PUSHAPI_IDEMPOTENCY_TTL_HOURS) and console sessions idle for 8 hours: deleted in small batches,
tenant by tenant, each batch a short transaction of its own that takes no tenant's push lock, so
pruning never holds up a push.

Request ids sort by time (request_ids.py), so "older than" is a range of the primary key
(tenant_id, request_id): each batch is an index range, whatever the size of the log.
"""

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import SQLAlchemyError

from pushapi.request_ids import first_request_id_at
from pushapi.store.operators import prune_sessions
from pushapi.store.tables import change_events, idempotency_keys, push_log, tenants

log = logging.getLogger("pushapi.retention")

BATCH = 1000  # entries deleted per transaction
PAUSE = 0.05  # seconds between batches, so that pushes get the database in between
EVERY = 3600.0  # seconds between prunings of a running server


def _tenant_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(tenants.c.tenant_id)).scalars())


def prune_idempotency_keys(engine: Engine, now: datetime | None = None) -> int:
    """Delete the kept answers of Idempotency-Keys that have expired; the number deleted."""
    now = now or datetime.now(UTC)
    table = idempotency_keys
    deleted = 0
    for tenant_id in _tenant_ids(engine):
        while True:
            with engine.connect().execution_options(write=True) as conn, conn.begin():
                expired = (
                    select(table.c.idempotency_key)
                    .where(table.c.tenant_id == tenant_id, table.c.expires_at <= now)
                    .limit(BATCH)
                )
                keys = list(conn.execute(expired).scalars())
                if keys:
                    conn.execute(
                        delete(table).where(
                            table.c.tenant_id == tenant_id,
                            table.c.idempotency_key.in_(keys),
                            table.c.expires_at <= now,
                        )
                    )
            deleted += len(keys)
            if len(keys) < BATCH:
                break
            time.sleep(PAUSE)
    return deleted


def prune_changes(engine: Engine, days: int, now: datetime | None = None) -> int:
    """Delete the change events older than `days` days (0: none); the number of rows deleted.
    Rows are in commit order, so what is left is always the newest part of a tenant's feed."""
    if days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    table = change_events
    deleted = 0
    for tenant_id in _tenant_ids(engine):
        while True:
            with engine.connect().execution_options(write=True) as conn, conn.begin():
                oldest = (
                    select(table.c.first_seq)
                    .where(table.c.tenant_id == tenant_id, table.c.at < cutoff)
                    .order_by(table.c.first_seq)
                    .limit(BATCH)
                )
                seqs = list(conn.execute(oldest).scalars())
                if seqs:
                    conn.execute(
                        delete(table).where(
                            table.c.tenant_id == tenant_id, table.c.first_seq <= seqs[-1]
                        )
                    )
            deleted += len(seqs)
            if len(seqs) < BATCH:
                break
            time.sleep(PAUSE)
    return deleted


def prune_push_log(engine: Engine, days: int, now: datetime | None = None) -> int:
    """Delete the push log entries older than `days` days (0: none); the number deleted."""
    if days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    before = first_request_id_at(int(cutoff.timestamp() * 1000))
    tenant_ids = _tenant_ids(engine)
    deleted = 0
    for tenant_id in tenant_ids:
        while True:
            with engine.connect().execution_options(write=True) as conn, conn.begin():
                oldest = (
                    select(push_log.c.request_id)
                    .where(push_log.c.tenant_id == tenant_id, push_log.c.request_id < before)
                    .order_by(push_log.c.request_id)
                    .limit(BATCH)
                )
                ids = list(conn.execute(oldest).scalars())
                if ids:
                    conn.execute(
                        delete(push_log).where(
                            push_log.c.tenant_id == tenant_id, push_log.c.request_id.in_(ids)
                        )
                    )
            deleted += len(ids)
            if len(ids) < BATCH:
                break
            time.sleep(PAUSE)
    return deleted


class Pruner:
    """A daemon thread that prunes the push log, the change feed and expired Idempotency-Keys
    `first_after` seconds after startup (time for the server to start first), then every EVERY s."""

    def __init__(
        self, engine: Engine, days: int, changes_days: int = 0, first_after: float = 60.0
    ) -> None:
        self.engine = engine
        self.days = days
        self.changes_days = changes_days
        self.first_after = first_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pushapi-pruner", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        delay = self.first_after
        while not self._stop.wait(delay):
            try:
                deleted = prune_push_log(self.engine, self.days)
                if deleted:
                    log.info("push log pruned", extra={"fields": {"deleted": deleted}})
                pruned = prune_changes(self.engine, self.changes_days)
                if pruned:
                    log.info("change feed pruned", extra={"fields": {"rows": pruned}})
                expired = prune_idempotency_keys(self.engine)
                if expired:
                    log.info("idempotency keys pruned", extra={"fields": {"deleted": expired}})
                with self.engine.connect().execution_options(write=True) as conn, conn.begin():
                    prune_sessions(conn, datetime.now(UTC))
            except SQLAlchemyError:
                log.warning("pruning failed; will try again", exc_info=True)
            delay = EVERY
