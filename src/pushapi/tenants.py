"""Tenants and their API keys: creation, listing, rotation, and authenticating a request's key.

Keys are random (192 bits of secret), shown once, stored only as SHA-256 hashes and compared in
constant time. A key reads `pk_<key id>_<secret>`; the key id finds the row, the hash proves it.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from pushapi.config import REGIONS
from pushapi.store.tables import api_keys, tenants

PLATFORMS = ("marketing-pro", "community", "community-essentials")
DEFAULT_COMMUNITY_GROUP_TYPES = ("Committee", "Chapter", "Community", "Event", "SIG")
TENANT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
KEY_FORM = re.compile(r"pk_([0-9a-f]{12})_[A-Za-z0-9_-]{32}")
# A key's last use is recorded at most this often, so reads and pushes rarely write for it.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


class TenantError(Exception):
    """A tenant or key operation that cannot be done; the message is for the operator."""


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: int
    code: str
    platform: str
    region: str
    community_group_types: frozenset[str]
    created_at: datetime

    def group_kind(self, group_type: str | None) -> str:
        """SPEC 4.1: "community" when the GroupType is one of the tenant's community types."""
        if self.platform == "community-essentials" or group_type not in self.community_group_types:
            return "security"
        return "community"


@dataclass(frozen=True, slots=True)
class Caller:
    """The tenant a request acts for, and the id of the key it authenticated with."""

    tenant: Tenant
    key_id: str


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    api_key: str


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _tenant_from_row(row: object) -> Tenant:
    return Tenant(
        tenant_id=row.tenant_id,  # type: ignore[attr-defined]
        code=row.code,  # type: ignore[attr-defined]
        platform=row.platform,  # type: ignore[attr-defined]
        region=row.region,  # type: ignore[attr-defined]
        community_group_types=frozenset(orjson.loads(row.community_group_types)),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
    )


def _insert_key(conn: Connection, tenant_id: int) -> NewKey:
    key_id = secrets.token_hex(6)
    api_key = f"pk_{key_id}_{secrets.token_urlsafe(24)}"
    conn.execute(
        insert(api_keys).values(
            tenant_id=tenant_id, key_id=key_id, secret_hash=_hash(api_key), created_at=_now()
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
                    community_group_types=orjson.dumps(types).decode(),
                    created_at=_now(),
                )
            )
            tenant_id = result.inserted_primary_key[0]  # type: ignore[index]
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
    return _tenant_from_row(row)


def list_tenants(engine: Engine) -> list[Tenant]:
    with engine.connect() as conn:
        rows = conn.execute(select(tenants).order_by(tenants.c.code)).all()
    return [_tenant_from_row(row) for row in rows]


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


def authenticate(engine: Engine, api_key: str | None) -> Caller | None:
    """The caller a presented key belongs to, or None for a missing, unknown or revoked key."""
    match = KEY_FORM.fullmatch(api_key or "")
    key_id = match.group(1) if match else ""
    query = (
        select(api_keys.c.secret_hash, api_keys.c.revoked_at, api_keys.c.last_used_at, tenants)
        .join(tenants, tenants.c.tenant_id == api_keys.c.tenant_id)
        .where(api_keys.c.key_id == key_id)
    )
    row = None
    if match:
        with engine.connect() as conn:
            row = conn.execute(query).first()
    stored = row.secret_hash if row is not None else _DUMMY_HASH
    # Always compare, so an unknown key id costs the same time as a wrong secret.
    valid = hmac.compare_digest(stored, _hash(api_key or ""))
    if row is None or not valid or row.revoked_at is not None:
        return None
    now = _now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            conn.execute(
                update(api_keys)
                .where(api_keys.c.tenant_id == row.tenant_id, api_keys.c.key_id == key_id)
                .values(last_used_at=now)
            )
    return Caller(_tenant_from_row(row), key_id)
