"""Settings, read once from `PUSHAPI_*` environment variables."""

from pydantic import Field
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
    rate_limit_per_minute: int = Field(
        0, ge=0, description="Push requests per tenant and minute; 0 turns rate limiting off"
    )
    # Each worker process has its own pool: a server holds up to
    # workers x (pool_size + max_overflow) connections (docs/operations.md).
    pool_size: int = Field(5, gt=0, description="Database connections kept per worker process")
    max_overflow: int = Field(10, ge=0, description="Extra connections a worker may open")
    pool_timeout: float = Field(
        30, gt=0, description="Seconds a request waits for a free connection of its worker's pool"
    )
    busy_timeout_ms: int = Field(
        60_000, gt=0, description="How long a SQLite writer waits for the write lock"
    )
    sqlite_cache_mib: int = Field(
        16, gt=0, description="SQLite only: the page cache of each connection, in MiB"
    )
    log_level: str = Field("INFO", description="Level of the structured request log")
