"""A Python client of the Push API v2: pushes split into batches, retries, typed errors, reads.

    with PushClient("http://127.0.0.1:8080", api_key) as client:
        summary = client.push_contacts(records)      # any number of records
        summary.raise_for_errors()                   # ValidationFailed, with every error
        for contact in client.iter_contacts():
            ...

`AsyncPushClient` has the same methods, awaited. Both carry out one plan per call (a generator
that yields the HTTP calls and pauses it needs), so batching, retries and error mapping are
written once. Every push of the API is idempotent (full replace; list modes), so a push whose
answer was lost may be sent again: 429 (after its Retry-After), 5xx and connection errors are
retried with exponential backoff.

The typed errors and the push summary are in `pushapi.client.outcomes` (re-exported here). The
client imports nothing of the server: it speaks the HTTP API only.
"""

from pushapi.client.clients import AsyncPushClient, PushClient
from pushapi.client.outcomes import (
    BatchOutcome,
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
from pushapi.client.plans import DEFAULT_BATCH_SIZE, DEFAULT_URL, ENDPOINTS

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_URL",
    "ENDPOINTS",
    "AsyncPushClient",
    "BatchOutcome",
    "ConnectionFailed",
    "ErrorResponse",
    "Issue",
    "NotFound",
    "NotSupportedForPlatform",
    "PayloadTooLarge",
    "PushApiError",
    "PushClient",
    "PushSummary",
    "RateLimited",
    "ServerFailure",
    "Unauthorized",
    "ValidationFailed",
    "WrongRegion",
]
