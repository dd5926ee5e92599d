"""Per-tenant rate limiting of pushes (429 with Retry-After), when an operator configures it."""

import math
import threading
import time


class RateLimiter:
    """A token bucket per tenant: `per_minute` pushes a minute, bursts up to the same number.

    Limits are per worker process; with N workers a tenant gets up to N times the rate.
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[int, tuple[float, float]] = {}  # tenant -> (tokens, last refill)
        self._lock = threading.Lock()

    def retry_after(self, tenant_id: int) -> int | None:
        """Take a token for a push; None when allowed, else the seconds to wait."""
        if self.per_minute <= 0:
            return None
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(tenant_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[tenant_id] = (tokens - 1.0, now)
                return None
            self._buckets[tenant_id] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / rate))
