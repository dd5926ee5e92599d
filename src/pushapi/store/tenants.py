"""The SQL of tenants and their API keys: create, find, list, rotate, and find a key's tenant."""

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from pushapi.keys import hash_key, key_id_of, key_matches, new_api_key
from pushapi.store.dialect import run_driver
from pushapi.store.tables import api_keys, tenant_state, tenants
from pushapi.tenants import (
    DEFAULT_COMMUNITY_GROUP_TYPES,
    PLATFORMS,
    REGIONS,
    TENANT_CODE,
    Caller,
    KeyInfo,
    NewKey,
    Tenant,
    TenantError,
)

# A key's last use is recorded at most this often, so reads and pushes rarely write for it.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _now() -> datetime:
    return datetime.now(UTC)


def tenant_from_row(row: Any) -> Tenant:
    """A Tenant from a row holding the columns of `tenants`."""
    return Tenant(
        tenant_id=row.tenant_id,
        code=row.code,
        platform=row.platform,
        region=row.region,
        community_group_types=frozenset(msgspec.json.decode(row.community_group_types)),
        created_at=row.created_at,
    )


def _insert_key(conn: Connection, tenant_id: int) -> NewKey:
    key_id, api_key = new_api_key()
    conn.execute(
        insert(api_keys).values(
            tenant_id=tenant_id, key_id=key_id, secret_hash=hash_key(api_key), created_at=_now()
        )
    )
    return NewKey(key_id, api_key)


def create_tenant(
    engine: Engine,
    code: str,
    platform: str,
    region: str = "us",
    community_group_types: tuple[str, ...] = DEFAULT_COMMUNITY_GROUP_TYPES,
) -> tuple[Tenant, NewKey]:
    """Create a tenant with its first API key."""
    if not TENANT_CODE.fullmatch(code):
        raise TenantError(
            f"invalid tenant code {code!r}: use 1-64 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    if platform not in PLATFORMS:
        raise TenantError(f"unknown platform {platform!r}; expected one of {', '.join(PLATFORMS)}")
    if region not in REGIONS:
        raise TenantError(f"unknown region {region!r}; expected one of {', '.join(REGIONS)}")
    types = sorted({t.strip() for t in community_group_types if t.strip()})
    try:
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            result = conn.execute(
                insert(tenants).values(
                    code=code,
                    platform=platform,
                    region=region,
                    community_group_types=msgspec.json.encode(types).decode(),
                    created_at=_now(),
                )
            )
            tenant_id = result.inserted_primary_key[0]  # type: ignore[index]
            conn.execute(insert(tenant_state).values(tenant_id=tenant_id))
            key = _insert_key(conn, tenant_id)
    except IntegrityError:
        raise TenantError(f"tenant {code!r} already exists") from None
    return find_tenant(engine, code), key


def find_tenant(engine: Engine, code: str) -> Tenant:
    """The tenant with this code; TenantError when there is none."""
    with engine.connect() as conn:
        row = conn.execute(select(tenants).where(tenants.c.code == code)).first()
    if row is None:
        raise TenantError(f"unknown tenant {code!r}")
    return tenant_from_row(row)


def list_tenants(engine: Engine) -> list[Tenant]:
    with engine.connect() as conn:
        rows = conn.execute(select(tenants).order_by(tenants.c.code)).all()
    return [tenant_from_row(row) for row in rows]


def create_key(engine: Engine, code: str) -> NewKey:
    """Add an API key to a tenant; its other keys stay valid (rotation without downtime)."""
    tenant = find_tenant(engine, code)
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        return _insert_key(conn, tenant.tenant_id)


def list_keys(engine: Engine, code: str) -> list[KeyInfo]:
    """A tenant's keys: ids, prefixes and times, never the secret."""
    tenant = find_tenant(engine, code)
    query = (
        select(api_keys)
        .where(api_keys.c.tenant_id == tenant.tenant_id)
        .order_by(api_keys.c.created_at, api_keys.c.key_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        KeyInfo(row.key_id, f"pk_{row.key_id}_", row.created_at, row.last_used_at, row.revoked_at)
        for row in rows
    ]


def revoke_key(engine: Engine, code: str, key_id: str) -> None:
    """Revoke one key of a tenant at once."""
    tenant = find_tenant(engine, code)
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        result = conn.execute(
            update(api_keys)
            .where(api_keys.c.tenant_id == tenant.tenant_id, api_keys.c.key_id == key_id)
            .values(revoked_at=_now())
        )
    if result.rowcount == 0:
        raise TenantError(f"tenant {code!r} has no key {key_id!r}")


# Built once: constructing the statement took more CPU than running it (docs/benchmark.md,
# "Measured choices"); the key id is its parameter.
_KEY_AND_TENANT = (
    select(api_keys.c.secret_hash, api_keys.c.revoked_at, api_keys.c.last_used_at, tenants)
    .join(tenants, tenants.c.tenant_id == api_keys.c.tenant_id)
    .where(api_keys.c.key_id == bindparam("presented_key_id"))
)


def authenticate(engine: Engine, api_key: str | None) -> Caller | None:
    """The caller a presented key belongs to, or None for a missing, unknown or revoked key.

    A read only: the key's use is recorded by the caller of this function, off the request
    (store/background.py), when `Caller.last_used_at` is older than LAST_USED_RESOLUTION.
    """
    key_id = key_id_of(api_key)
    row = None
    if key_id is not None:
        with engine.connect() as conn:
            row = conn.execute(_KEY_AND_TENANT, {"presented_key_id": key_id}).first()
    if not key_matches(None if row is None else row.secret_hash, api_key):
        return None
    assert row is not None and key_id is not None
    if row.revoked_at is not None:
        return None
    return Caller(tenant_from_row(row), key_id, row.last_used_at)


_KEY_IN_FORCE = (
    "SELECT 1 FROM api_keys WHERE api_keys.tenant_id = ? AND api_keys.key_id = ?"
    " AND api_keys.revoked_at IS NULL"
)


def key_in_force(conn: Connection, tenant_id: int, key_id: str) -> bool:
    """Whether the tenant's key is still there and not revoked: checked by a push inside its
    write transaction, so a key revoked before the push commits changes nothing, whatever a
    server process remembers of it (auth.py)."""
    return bool(run_driver(conn, _KEY_IN_FORCE, (tenant_id, key_id)))


def use_is_due(caller: Caller, now: datetime) -> bool:
    """Whether the key's last use is older than the resolution it is recorded with."""
    last = caller.last_used_at
    return last is None or now - last > LAST_USED_RESOLUTION
