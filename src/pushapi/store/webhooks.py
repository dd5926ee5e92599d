"""Webhook subscriptions (SPEC 8): their rows, and the state of each one's delivery.

A subscription delivers the tenant's change events after `delivered_seq`, in batches; a batch
is fixed when it is first tried (`batch_last`: its events are those of the types wanted with
`delivered_seq < seq <= batch_last`), so a retry sends the same events under the same
`webhook-id`. One deliverer at a time holds a subscription (`lease_owner` until `lease_until`):
across the workers of a server and across nodes, coordinated through this table.
"""

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import msgspec
from sqlalchemy import Engine, and_, delete, insert, or_, select, update

from pushapi.store.changes import EVENT_TYPES, feed_position
from pushapi.store.dialect import across_tenants
from pushapi.store.tables import tenants, webhooks
from pushapi.store.tenants import find_tenant

ACTIVE, FAILING, DISABLED = "active", "failing", "disabled"
LEASE = timedelta(seconds=30)


class WebhookError(Exception):
    """A subscription that cannot be created or found (the CLI prints it as one line)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription as a deliverer and `webhooks list` see it."""

    tenant_id: int
    tenant: str
    webhook_id: str
    url: str
    types: tuple[str, ...] | None
    secret: str
    state: str
    created_at: datetime
    delivered_seq: int
    batch_last: int | None
    batch_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None
    failing_since: datetime | None
    last_error: str | None


def check_url(url: str) -> str:
    """A webhook URL: http or https, with a host (SPEC 8: other schemes are refused)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"webhook URL must be http://host/... or https://..., got {url!r}")
    return url


def check_types(types: list[str] | None) -> tuple[str, ...] | None:
    if not types:
        return None
    unknown = [name for name in types if name not in EVENT_TYPES]
    if unknown:
        raise WebhookError(
            f"unknown event type {unknown[0]!r}; use one of {', '.join(EVENT_TYPES)}"
        )
    return tuple(dict.fromkeys(types))


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: whsec_ and 24 random bytes, base64."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def create_webhook(
    engine: Engine,
    code: str,
    url: str,
    types: list[str] | None,
    from_seq: int | None,
    now: datetime,
) -> Subscription:
    """A new subscription of the tenant `code`; it starts after the tenant's latest event, or
    after `from_seq` (0: every event kept)."""
    tenant = find_tenant(engine, code)
    wanted = check_types(types)
    check_url(url)
    if from_seq is not None and from_seq < 0:
        raise WebhookError("--from-seq must be 0 or more")
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        position = feed_position(conn, tenant.tenant_id)
        start = position.latest if from_seq is None else min(from_seq, position.latest)
        webhook_id = secrets.token_hex(6)
        row = {
            "tenant_id": tenant.tenant_id,
            "webhook_id": webhook_id,
            "url": url,
            "types": None if wanted is None else msgspec.json.encode(list(wanted)).decode(),
            "secret": new_secret(),
            "state": ACTIVE,
            "created_at": now,
            "delivered_seq": start,
            "attempts": 0,
        }
        conn.execute(insert(webhooks).values(**row))
    return get_webhook(engine, code, webhook_id)


def _subscription(row: Any, code: str) -> Subscription:
    types = None if row.types is None else tuple(msgspec.json.decode(row.types))
    return Subscription(
        row.tenant_id, code, row.webhook_id, row.url, types, row.secret, row.state,
        row.created_at, int(row.delivered_seq), row.batch_last, row.batch_at, row.attempts,
        row.next_attempt_at, row.failing_since, row.last_error,
    )  # fmt: skip


def _query() -> Any:
    return select(webhooks, tenants.c.code).join(
        tenants, tenants.c.tenant_id == webhooks.c.tenant_id
    )


def list_webhooks(engine: Engine, code: str) -> list[tuple[Subscription, int]]:
    """The tenant's subscriptions, each with its lag (events after the last delivered)."""
    tenant = find_tenant(engine, code)
    with engine.connect() as conn:
        rows = conn.execute(
            _query().where(webhooks.c.tenant_id == tenant.tenant_id).order_by(webhooks.c.created_at)
        ).all()
        latest = feed_position(conn, tenant.tenant_id).latest
    return [(_subscription(row, code), max(0, latest - int(row.delivered_seq))) for row in rows]


def get_webhook(engine: Engine, code: str, webhook_id: str) -> Subscription:
    tenant = find_tenant(engine, code)
    with engine.connect() as conn:
        row = conn.execute(
            _query().where(
                webhooks.c.tenant_id == tenant.tenant_id, webhooks.c.webhook_id == webhook_id
            )
        ).first()
    if row is None:
        raise WebhookError(f"tenant {code!r} has no webhook {webhook_id!r}")
    return _subscription(row, code)


def delete_webhook(engine: Engine, code: str, webhook_id: str) -> None:
    found = get_webhook(engine, code, webhook_id)
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(delete(webhooks).where(_key(found.tenant_id, webhook_id)))


def enable_webhook(engine: Engine, code: str, webhook_id: str) -> None:
    """Deliver again, at once, from where it stopped (a disabled or failing subscription)."""
    found = get_webhook(engine, code, webhook_id)
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(
            update(webhooks)
            .where(_key(found.tenant_id, webhook_id))
            .values(state=ACTIVE, attempts=0, next_attempt_at=None, failing_since=None)
        )


def _key(tenant_id: int, webhook_id: str) -> Any:
    return and_(webhooks.c.tenant_id == tenant_id, webhooks.c.webhook_id == webhook_id)


# -- the deliverer's side ------------------------------------------------------------------


def process_owner() -> str:
    """Who holds a lease: this host and process, and a token for this start of it."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _dead_here(owner: str | None) -> bool:
    """Whether `owner` is a process of this host that no longer runs (its lease is void)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def due_webhooks(engine: Engine, now: datetime) -> list[Subscription]:
    """Subscriptions that may be delivered now (not disabled, not waiting for a retry)."""
    with engine.connect() as conn:
        across_tenants(conn)  # one poll for the subscriptions of every tenant
        rows = conn.execute(
            _query().where(
                webhooks.c.state != DISABLED,
                or_(webhooks.c.next_attempt_at.is_(None), webhooks.c.next_attempt_at <= now),
            )
        ).all()
    return [_subscription(row, row.code) for row in rows]


def reload_webhook(engine: Engine, found: Subscription) -> Subscription | None:
    """The subscription as stored now (None once deleted)."""
    with engine.connect() as conn:
        row = conn.execute(_query().where(_key(found.tenant_id, found.webhook_id))).first()
    return None if row is None else _subscription(row, row.code)


def take_lease(engine: Engine, found: Subscription, owner: str, now: datetime) -> bool:
    """Hold the subscription until now + LEASE; False when another live deliverer holds it."""
    key = _key(found.tenant_id, found.webhook_id)
    with engine.connect() as conn:
        holder = conn.execute(
            select(webhooks.c.lease_owner, webhooks.c.lease_until).where(key)
        ).first()
    if holder is None:
        return False
    free = or_(
        webhooks.c.lease_owner.is_(None),
        webhooks.c.lease_owner == owner,
        webhooks.c.lease_until < now,
    )
    if _dead_here(holder.lease_owner) and holder.lease_owner != owner:
        free = or_(free, webhooks.c.lease_owner == holder.lease_owner)
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        taken = conn.execute(
            update(webhooks).where(key, free).values(lease_owner=owner, lease_until=now + LEASE)
        )
    return taken.rowcount == 1


def release_lease(engine: Engine, found: Subscription, owner: str) -> None:
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(
            update(webhooks)
            .where(_key(found.tenant_id, found.webhook_id), webhooks.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


def save_delivery(engine: Engine, found: Subscription, owner: str, **values: Any) -> None:
    """Record what a delivery did, if this deliverer still holds the subscription."""
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(
            update(webhooks)
            .where(_key(found.tenant_id, found.webhook_id), webhooks.c.lease_owner == owner)
            .values(**values)
        )
