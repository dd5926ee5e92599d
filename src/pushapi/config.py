"""Settings, read once from `PUSHAPI_*` environment variables."""

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pushapi.defaults import DEFAULT_DATABASE_URL
from pushapi.tenants import Region


class Settings(BaseSettings):
    """Everything an operator can set; each field is the variable `PUSHAPI_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="PUSHAPI_", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: sqlite:///path or postgresql://user@host:5432/db",
    )
    region: Region = Field("us", description="Region this server hosts; other tenants get 421")
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0, description="Largest push body (413)")
    max_records: int = Field(10_000, gt=0, description="Most records in one push (413)")
    max_collection_items: int = Field(
        1_000,
        gt=0,
        description="Most entries in one collection of a contact (Groups, Addresses, ...) (400)",
    )
    max_list_ids: int = Field(100_000, gt=0, description="Most ContactIds in one list record (400)")
    max_page_bytes: int = Field(
        4 * 1024 * 1024,
        gt=0,
        description="A listing's page ends once its records hold this many bytes (at least one)",
    )
    max_inflight_bytes: int = Field(
        64 * 1024 * 1024,
        gt=0,
        description="Bytes of push bodies a worker processes at once; more wait, then 503",
    )
    max_pushes_per_tenant: int = Field(
        2, gt=0, description="Pushes of one tenant a worker processes at once; more wait, then 503"
    )
    rate_limit_per_minute: int = Field(
        0, ge=0, description="Push requests per tenant and minute; 0 turns rate limiting off"
    )
    rate_limit_storage: str = Field(
        "memory://",
        description="Where rate limits count: memory:// (each worker apart) or "
        "redis://host:6379/0 (shared by every worker and node)",
    )
    # Each worker process has its own pool: a server holds up to
    # workers x (pool_size + max_overflow) connections (docs/operations.md).
    pool_size: int = Field(5, gt=0, description="Database connections kept per worker process")
    max_overflow: int = Field(10, ge=0, description="Extra connections a worker may open")
    pool_timeout: float = Field(
        30, gt=0, description="Seconds a request waits for a free connection of its worker's pool"
    )
    citus_route_pushes: Literal["on", "off"] = Field(
        "on",
        description="Citus only: on: each push goes to the node that holds its tenant's shards; "
        "off: every statement goes through the coordinator",
    )
    busy_timeout_ms: int = Field(
        60_000, gt=0, description="How long a SQLite writer waits for the write lock"
    )
    sqlite_cache_mib: int = Field(
        16, gt=0, description="SQLite only: the page cache of each connection, in MiB"
    )
    malloc_keep_mib: int = Field(
        64,
        ge=0,
        description="glibc only: freed memory each of a worker's two malloc heaps keeps for "
        "its next pushes, in MiB (0: the C library's defaults)",
    )
    header_timeout_seconds: float = Field(
        10, gt=0, description="A request's headers must arrive within this time (else closed)"
    )
    body_timeout_seconds: float = Field(
        120, gt=0, description="A push's body must arrive within this time (else 408)"
    )
    pushlog_retention_days: int = Field(
        90, ge=0, description="Push log entries are pruned after this many days; 0 keeps them"
    )
    changes_retention_days: int = Field(
        30, ge=0, description="Change events are pruned after this many days; 0 keeps them"
    )
    webhooks_delivery: Literal["on", "off"] = Field(
        "on", description="on: this server delivers webhooks in the background; off: it does not"
    )
    webhook_disable_hours: float = Field(
        72, gt=0, description="A webhook failing for this long is disabled (fractions allowed)"
    )
    idempotency_ttl_hours: float = Field(
        24, gt=0, description="How long the answer to a push with an Idempotency-Key is kept"
    )
    metrics_token: str | None = Field(
        None,
        description="When set, /metrics answers only with the header "
        "`Authorization: Bearer <token>`",
    )
    console_secret_key: str | None = Field(
        None,
        description="Signs the console's session cookies; the same on every node. Unset: "
        "`pushapi serve` makes one at start, so signing in again is needed after a restart",
    )
    console_secure_cookies: bool = Field(
        False, description="true: the console's cookies are sent over HTTPS only (Secure)"
    )
    log_level: str = Field("INFO", description="Level of the structured request log")

    @field_validator("rate_limit_storage")
    @classmethod
    def _known_storage(cls, url: str) -> str:
        if url.split("://", 1)[0].lower() not in ("memory", "redis", "rediss") or "://" not in url:
            raise ValueError(f"expected memory:// or redis://host:port/db, got {url!r}")
        return url
