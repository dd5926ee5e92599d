"""The one error shape of the API, and the exceptions that produce it.

Every error body is `{"error": code, "message": ..., "requestId": ...}`, built by `error_body`
(validation_failed adds "errors" and "warnings": [Issue, ...]; a dry run adds "dryRun": true).
Class, status and code:

ApiError                      500 internal_error (what an unexpected failure answers)
  +-- InternalFailure         500 internal_error (a push's unexpected failure, with its cause)
  +-- InvalidBody             400 invalid_body
  +-- ValidationFailed        400 validation_failed (with "errors": every Issue found)
  +-- InvalidParameter        400 invalid_parameter
  +-- InvalidIdempotencyKey   400 invalid_idempotency_key
  +-- Unauthorized            401 unauthorized
  +-- NotSupportedForPlatform 403 not_supported_for_platform
  +-- NotFound                404 not_found
  +-- RequestTimeout          408 request_timeout
  +-- GoneCursor              410 cursor_expired (the change feed's events were pruned)
  +-- IdempotencyKeyInUse     409 idempotency_key_in_use (with Retry-After)
  +-- PayloadTooLarge         413 payload_too_large
  +-- UnsupportedMediaType    415 unsupported_media_type
  +-- MisdirectedRegion       421 wrong_region
  +-- IdempotencyKeyReused    422 idempotency_key_reused
  +-- RateLimited             429 rate_limited (with Retry-After)
  +-- ServiceUnavailable      503 unavailable (with Retry-After)
"""

from dataclasses import dataclass
from typing import Any

import msgspec


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a push: a record index, a field path and what was expected."""

    index: int
    path: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "path": self.path, "message": self.message}


# The JSON Schema of what error_body builds (the OpenAPI document's "Error").
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "example": "validation_failed"},
        "message": {"type": "string"},
        "requestId": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Issue"},
            "description": "With validation_failed: every problem found, not only the first",
        },
        "warnings": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Issue"},
            "description": "With validation_failed: the warnings found with the errors",
        },
        "dryRun": {
            "type": "boolean",
            "description": "Present (true) in every answer to a push with ?dryRun=true",
        },
    },
    "required": ["error", "message"],
}


def error_body(code: str, message: str, request_id: str | None, **extra: Any) -> dict[str, Any]:
    """Build the body every error response of the API has (SPEC 3)."""
    body: dict[str, Any] = {"error": code, "message": message}
    if request_id is not None:
        body["requestId"] = request_id
    body.update(extra)
    return body


class ApiError(Exception):
    """An error answered with `status` and the common error body."""

    status = 500
    code = "internal_error"
    headers: dict[str, str] = {}  # noqa: RUF012 - overridden per instance where needed
    # How many records the refused push held, when it got as far as reading them (push log).
    received = 0

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self, request_id: str | None) -> dict[str, Any]:
        return error_body(self.code, self.message, request_id, **self.extra)

    def encoded(self, request_id: str | None) -> bytes:
        """The body as answered, byte for byte (the bytes an Idempotency-Key keeps)."""
        return msgspec.json.encode(self.body(request_id))


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class NotSupportedForPlatform(ApiError):
    status, code = 403, "not_supported_for_platform"


class NotFound(ApiError):
    status, code = 404, "not_found"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class InvalidBody(ApiError):
    status, code = 400, "invalid_body"


class InvalidParameter(ApiError):
    status, code = 400, "invalid_parameter"


class InvalidIdempotencyKey(ApiError):
    status, code = 400, "invalid_idempotency_key"


class GoneCursor(ApiError):
    status, code = 410, "cursor_expired"


class IdempotencyKeyInUse(ApiError):
    """SPEC 3.2: the key's first request is still running; retry after Retry-After seconds."""

    status, code = 409, "idempotency_key_in_use"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "a request with this Idempotency-Key is still running; retry to get its answer"
        )
        self.headers = {"Retry-After": str(retry_after)}


class IdempotencyKeyReused(ApiError):
    status, code = 422, "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was used for another request (endpoint, query or body); "
            "use a new key for a new request"
        )


class MisdirectedRegion(ApiError):
    status, code = 421, "wrong_region"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class InternalFailure(ApiError):
    """An unexpected failure while a push was read or applied (its cause is the failure); it
    answers 500 without saying more, and nothing was changed."""

    def __init__(self, received: int) -> None:
        super().__init__("unexpected failure; nothing was changed")
        self.received = received


class RequestTimeout(ApiError):
    status, code = 408, "request_timeout"


class ServiceUnavailable(ApiError):
    """The database or this worker is busy, or the database cannot be reached; nothing was
    changed, and the client should retry after Retry-After seconds."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class ValidationFailed(ApiError):
    """Records of a push broke the rules: every error found, and the warnings found with them."""

    status = 400
    code = "validation_failed"

    def __init__(self, issues: list[Issue], warnings: list[Issue], received: int) -> None:
        noun = "error" if len(issues) == 1 else "errors"
        super().__init__(f"{len(issues)} {noun} in the pushed records; nothing was applied")
        self.issues = issues
        self.warnings = warnings
        self.received = received

    def body(self, request_id: str | None) -> dict[str, Any]:
        errors = [issue.as_json() for issue in self.issues]
        warnings = [issue.as_json() for issue in self.warnings]
        return error_body(
            self.code, self.message, request_id, errors=errors, warnings=warnings, **self.extra
        )
