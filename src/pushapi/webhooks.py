"""Delivering the change feed to webhook subscriptions (SPEC 8), per the Standard Webhooks
specification: signed with the `standardwebhooks` package, in `seq` order, in batches of up to
100 events, at least once, retried with exponential backoff and jitter.

A `Deliverer` runs in every `pushapi serve` worker (unless PUSHAPI_WEBHOOKS_DELIVERY=off) and in
`pushapi webhooks run`. Each second it looks for subscriptions that are due and takes the lease
of those no other live deliverer holds (store/webhooks.py), so each subscription has one
deliverer across workers and nodes. Deliveries run on a few threads of their own, with their
own database connections: a slow or failing receiver holds up neither pushes nor the other
subscriptions.
"""

import contextlib
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from standardwebhooks.webhooks import Webhook

from pushapi.config import Settings
from pushapi.metrics import Metrics
from pushapi.schema.values import format_datetime
from pushapi.store.changes import ChangeEvent, CursorExpired, feed_position, list_changes
from pushapi.store.webhooks import (
    ACTIVE,
    DISABLED,
    FAILING,
    Subscription,
    due_webhooks,
    process_owner,
    release_lease,
    reload_webhook,
    save_delivery,
    take_lease,
)

log = logging.getLogger("pushapi.webhooks")

BATCH = 100  # events per delivery
TIMEOUT = 10.0  # seconds a receiver has to answer
POLL = 1.0  # seconds between looks for due subscriptions
MAX_BACKOFF = 3600.0  # seconds
THREADS = 8  # subscriptions delivered at once by one deliverer
PAYLOAD_TYPE = "pushapi.changes"


class Payload(msgspec.Struct):
    type: str
    timestamp: str
    data: dict[str, Any]


def delivery_engine(settings: Settings) -> Engine:
    """An engine of its own for delivery: its few connections are never the pushes'."""
    from pushapi.store.engine import build_engine

    return build_engine(settings.model_copy(update={"pool_size": 2, "max_overflow": THREADS}))


def backoff(attempts: int) -> float:
    """Seconds before retry number `attempts` (1, 2, ...): 1 s doubling up to an hour, each
    jittered to 50-100 %."""
    return min(MAX_BACKOFF, 2.0 ** (attempts - 1)) * random.uniform(0.5, 1.0)


class Deliverer:
    """Delivers every due subscription of the database, one lease at a time."""

    def __init__(
        self, engine: Engine, disable_after: timedelta, metrics: Metrics | None = None
    ) -> None:
        self.engine = engine
        self.disable_after = disable_after
        self.metrics = metrics
        self.owner = process_owner()
        self._stop = threading.Event()
        self._busy: set[tuple[int, str]] = set()
        self._held: dict[tuple[int, str], Subscription] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="pushapi-webhook")
        self._http = httpx.Client(timeout=TIMEOUT, follow_redirects=False)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Deliver in a background thread until stop()."""
        self._thread = threading.Thread(target=self.run, name="pushapi-webhooks", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask run() to return (from a signal handler)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT + 5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        for found in list(self._held.values()):
            with contextlib.suppress(SQLAlchemyError):  # else the lease lapses on its own
                release_lease(self.engine, found, self.owner)
        self._http.close()

    def run(self) -> None:
        """Look for due subscriptions every POLL seconds until stop()."""
        while not self._stop.is_set():
            try:
                self.tick()
            except SQLAlchemyError:
                log.warning("webhook delivery: the database failed; trying again", exc_info=True)
            self._stop.wait(POLL)

    def tick(self) -> None:
        """Start delivering each due subscription this deliverer can hold."""
        now = datetime.now(UTC)
        for found in due_webhooks(self.engine, now):
            key = (found.tenant_id, found.webhook_id)
            with self._lock:
                if key in self._busy:
                    continue
            if not take_lease(self.engine, found, self.owner, now):
                self._held.pop(key, None)
                continue
            with self._lock:
                self._busy.add(key)
                self._held[key] = found
            self._pool.submit(self._deliver_all, found)

    def _deliver_all(self, found: Subscription) -> None:
        key = (found.tenant_id, found.webhook_id)
        try:
            while not self._stop.is_set() and self._deliver_batch(found):
                # Delivered: the next batch at once, while this deliverer holds the lease.
                if not take_lease(self.engine, found, self.owner, datetime.now(UTC)):
                    break
                again = reload_webhook(self.engine, found)
                if again is None or again.state == DISABLED:
                    break
                found = again
        except SQLAlchemyError:
            log.warning("webhook delivery: the database failed", exc_info=True)
        except Exception:  # pragma: no cover - a bug; the next tick tries again
            log.exception("webhook delivery failed unexpectedly")
        finally:
            with self._lock:
                self._busy.discard(key)

    def _batch(self, found: Subscription) -> tuple[list[ChangeEvent], int] | None:
        """The events of the subscription's next batch (fixed when first tried), and its last
        seq; None when there is nothing to deliver."""
        wanted = None if found.types is None else frozenset(found.types)
        with self.engine.connect() as conn:
            try:
                events, _ = list_changes(conn, found.tenant_id, found.delivered_seq, BATCH, wanted)
            except CursorExpired as expired:
                # Retention pruned events never delivered: go on from the oldest kept.
                save_delivery(
                    self.engine, found, self.owner,
                    delivered_seq=expired.first_kept - 1, batch_last=None, batch_at=None,
                    last_error=f"events up to seq {expired.first_kept - 1} were pruned "
                    "before they could be delivered",
                )  # fmt: skip
                return None
            latest = feed_position(conn, found.tenant_id).latest
        self._gauge_lag(found, latest - found.delivered_seq)
        if found.batch_last is not None:
            events = [event for event in events if event.seq <= found.batch_last]
            return events, found.batch_last
        if not events:
            if latest > found.delivered_seq:  # only events of other types: nothing to send
                save_delivery(self.engine, found, self.owner, delivered_seq=latest)
            return None
        return events, events[-1].seq

    def _deliver_batch(self, found: Subscription) -> bool:
        """Deliver the next batch; True when it was delivered (there may be more)."""
        batch = self._batch(found)
        if batch is None:
            return False
        events, last = batch
        now = datetime.now(UTC).replace(microsecond=0)
        batch_at = found.batch_at or now
        if found.batch_last is None:
            save_delivery(self.engine, found, self.owner, batch_last=last, batch_at=batch_at)
        payload = Payload(
            PAYLOAD_TYPE,
            format_datetime(batch_at),
            {"tenant": found.tenant, "events": events},
        )
        body = msgspec.json.encode(payload)
        message_id = f"msg_{found.webhook_id}_{last}"
        signature = Webhook(found.secret).sign(message_id, now, body.decode())
        headers = {
            "content-type": "application/json",
            "user-agent": "pushapi-webhooks",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        started = datetime.now(UTC)
        try:
            response = self._http.post(found.url, content=body, headers=headers)
            error = None if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}".strip().rstrip(":")
        seconds = (datetime.now(UTC) - started).total_seconds()
        if error is None:
            # last_error stays as it was: what went wrong last is still worth knowing.
            save_delivery(
                self.engine, found, self.owner,
                delivered_seq=last, batch_last=None, batch_at=None, attempts=0,
                next_attempt_at=None, state=ACTIVE, failing_since=None,
            )  # fmt: skip
            self._count("delivered", seconds)
            return True
        attempts = found.attempts + 1
        failing_since = found.failing_since or started
        disabled = started - failing_since >= self.disable_after
        save_delivery(
            self.engine, found, self.owner,
            batch_last=last, batch_at=batch_at, attempts=attempts,
            next_attempt_at=started + timedelta(seconds=backoff(attempts)),
            state=DISABLED if disabled else FAILING, failing_since=failing_since,
            last_error=error[:500],
        )  # fmt: skip
        self._count("failed", seconds)
        log.info(
            "webhook delivery failed",
            extra={"fields": {"webhook": found.webhook_id, "attempts": attempts,
                              "error": error[:200], "disabled": disabled}},
        )  # fmt: skip
        return False

    def _count(self, outcome: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.count_delivery(outcome, seconds)

    def _gauge_lag(self, found: Subscription, lag: int) -> None:
        if self.metrics is not None:
            self.metrics.webhook_lag(found.webhook_id, max(0, lag))
