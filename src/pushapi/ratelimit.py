"""Per-tenant rate limits of pushes (SPEC 3: 429), counted by the `limits` library.

At most PUSHAPI_RATE_LIMIT_PER_MINUTE pushes of a tenant in any 60 seconds (a moving window).
The counts live where PUSHAPI_RATE_LIMIT_STORAGE says: `memory://` (the default) counts in each
worker process apart, so N workers allow N times the rate; `redis://host:6379/0` counts in
Redis, shared by every worker and node (give each deployment a database of its own: the counts
are kept by tenant code).
"""

import inspect
import math
import time
from dataclasses import dataclass
from typing import Any

import coredis
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a push may go on, and the RateLimit-* headers of its answer."""

    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window frees a push

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset))
        return headers


STORAGE_SCHEMES = ("memory", "redis", "rediss")


def async_storage_url(url: str) -> str:
    """The `limits` storage URL of the asyncio API for a PUSHAPI_RATE_LIMIT_STORAGE value."""
    return f"async+{url}"


class RateLimiter:
    """The pushes of each tenant, counted in a moving window of a minute."""

    def __init__(self, per_minute: int, storage_url: str) -> None:
        self.item: RateLimitItem = RateLimitItemPerMinute(max(per_minute, 1))
        self.per_minute = per_minute
        options: dict[str, Any] = {}
        self._pool: Any = None
        if not storage_url.startswith("memory"):
            # A pool of our own, so that its connections are closed with the server.
            self._pool = options["connection_pool"] = coredis.ConnectionPool.from_url(storage_url)
        storage = storage_from_string(async_storage_url(storage_url), **options)
        self._limiter = MovingWindowRateLimiter(storage)

    async def close(self) -> None:
        """Close the connections to Redis, if any."""
        if self._pool is not None:
            done = self._pool.disconnect()
            if inspect.isawaitable(done):
                await done

    async def take(self, tenant: str) -> Decision:
        """Count one push of the tenant (its code: unique in a deployment, and the same on every
        node), unless the limit is reached."""
        key = tenant
        allowed = await self._limiter.hit(self.item, "push", key)
        stats = await self._limiter.get_window_stats(self.item, "push", key)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return Decision(allowed, self.per_minute, stats.remaining, reset)
