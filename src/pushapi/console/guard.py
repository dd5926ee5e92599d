"""Who is signed in to the console, and the checks of every form (SPEC 9).

The session cookie is Starlette's SessionMiddleware (signed by itsdangerous, HttpOnly,
SameSite=Strict, Secure when configured, renewed by every answer so that it lapses after 8 hours
idle). It holds a CSRF token and, once signed in, the secret of a server-side session
(store/operators.py), which signing out deletes. Failed sign-ins are counted per address with
the `limits` library, in the storage of PUSHAPI_RATE_LIMIT_STORAGE (memory, or Redis shared by
every node).
"""

import secrets
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from pushapi.store.operators import Session, find_session

FAILURES: RateLimitItem = parse("5/15 minutes")  # failed sign-ins that lock an address
LOCK: RateLimitItem = parse("1/15 minutes")  # a lock, once taken, lasts 15 minutes


class CsrfRefused(Exception):
    """A form without the session's CSRF token: refused (403) before anything is done."""


def csrf_token(request: Request) -> str:
    """The CSRF token of the visitor's cookie session; made on the first page."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, form: Any) -> None:
    expected = request.session.get("csrf")
    given = form.get("csrf")
    if not isinstance(expected, str) or not isinstance(given, str):
        raise CsrfRefused
    if not secrets.compare_digest(expected.encode(), given.encode()):
        raise CsrfRefused


def signed_in(request: Request) -> Session | None:
    """The live session of the request's cookie, if any (a lapsed one is forgotten)."""
    secret = request.session.get("sid")
    if not isinstance(secret, str):
        return None
    session = find_session(request.app.state.engine, secret)
    if session is None:
        request.session.pop("sid", None)
    else:
        # Sends the cookie again, newly signed: it lapses 8 hours after the last request.
        request.session["seen"] = int(time.time())
    return session


def begin(request: Request, secret: str) -> None:
    """Remember a new session in the cookie, with a new CSRF token."""
    request.session.clear()
    request.session["sid"] = secret
    request.session["csrf"] = secrets.token_urlsafe(32)


class SignInLock:
    """Locks sign-in for an address after 5 failures in 15 minutes, for 15 minutes. Synchronous
    (the `redis` client with Redis): called from a worker thread, on no event loop of its own."""

    def __init__(self, storage_url: str) -> None:
        options: dict[str, Any] = {}
        self._pool: Any = None
        if not storage_url.startswith("memory"):
            import redis

            # A pool of our own, so that its connections are closed with the server.
            self._pool = options["connection_pool"] = redis.ConnectionPool.from_url(storage_url)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url, **options))

    def close(self) -> None:
        """Close the connections to Redis, if any."""
        if self._pool is not None:
            self._pool.disconnect()

    def locked(self, address: str) -> bool:
        return not self._limiter.test(LOCK, "console-lock", address)

    def failed(self, address: str) -> None:
        self._limiter.hit(FAILURES, "console-sign-in", address)
        if not self._limiter.test(FAILURES, "console-sign-in", address):
            self._limiter.hit(LOCK, "console-lock", address)
