"""A Python client of the Push API v2: pushes split into batches, retries, typed errors, reads.

    with PushClient("http://127.0.0.1:8080", api_key) as client:
        summary = client.push_contacts(records)      # any number of records
        summary.raise_for_errors()                   # ValidationFailed, with every error
        for contact in client.iter_contacts():
            ...

`AsyncPushClient` has the same methods, awaited. Both carry out one plan per call (a generator
that yields the HTTP calls and pauses it needs), so batching, retries and error mapping are
written once. Each batch is sent with an Idempotency-Key of its own, the same on its retries, so
a batch whose answer was lost is replayed by the server, never applied twice: 409, 429 (after
their Retry-After), 5xx and connection errors are retried with exponential backoff. Push options
(dry_run, on_error, idempotency_key): `PushOptions`.

The typed errors and the push summary are in `pushapi.client.outcomes` (re-exported here). The
client imports nothing of the server: it speaks the HTTP API only.
"""

from pushapi.client.clients import AsyncPushClient, PushClient
from pushapi.client.outcomes import (
    BatchOutcome,
    Conflict,
    ConnectionFailed,
    ErrorResponse,
    Issue,
    NotFound,
    NotSupportedForPlatform,
    PayloadTooLarge,
    PushApiError,
    PushSummary,
    RateLimited,
    ServerFailure,
    Unauthorized,
    ValidationFailed,
    WrongRegion,
)
from pushapi.client.plans import DEFAULT_BATCH_SIZE, DEFAULT_URL, ENDPOINTS, PushOptions

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_URL",
    "ENDPOINTS",
    "AsyncPushClient",
    "BatchOutcome",
    "Conflict",
    "ConnectionFailed",
    "ErrorResponse",
    "Issue",
    "NotFound",
    "NotSupportedForPlatform",
    "PayloadTooLarge",
    "PushApiError",
    "PushClient",
    "PushOptions",
    "PushSummary",
    "RateLimited",
    "ServerFailure",
    "Unauthorized",
    "ValidationFailed",
    "WrongRegion",
]
