"""The client's view of the server's answers: typed errors, and the summary of a push.

PushApiError
  +-- ConnectionFailed              the server could not be reached, even after retries
  +-- ErrorResponse                 an error answer (SPEC 3): status, code, message, request_id
        +-- Unauthorized            401 unknown or revoked key
        +-- NotSupportedForPlatform 403 endpoint not on the tenant's platform
        +-- NotFound                404
        +-- Conflict                409 idempotency_key_in_use, still after the retries
        +-- PayloadTooLarge         413 one record alone is over the server's body limit
        +-- ValidationFailed        400 validation_failed; `errors`: an Issue per record and field
        +-- WrongRegion             421 the tenant is hosted in another region
        +-- RateLimited             429 still after the retries; `retry_after`
        +-- ServerFailure           5xx still after the retries
"""

import email.utils
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from pushapi.client.wire import load_json

MAX_RETRY_AFTER = 300.0  # seconds: a longer Retry-After is shortened to this


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem the server found in a pushed record: its index, field path, and message."""

    index: int
    path: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "path": self.path, "message": self.message}


class PushApiError(Exception):
    """Anything that kept a call from getting its answer."""

    # A push of many records that stops on this error: what its earlier batches did.
    summary: "PushSummary | None" = None


class ConnectionFailed(PushApiError):
    """The server could not be reached, even after the retries."""


class ErrorResponse(PushApiError):
    """The server answered with an error: its status, code, message and request id."""

    def __init__(self, status: int, body: Mapping[str, Any], headers: httpx.Headers) -> None:
        self.status = status
        self.code = str(body.get("error") or f"http_{status}")
        self.message = str(body.get("message") or f"HTTP {status}")
        self.request_id: str | None = body.get("requestId") or headers.get("x-request-id")
        self.body = dict(body)
        self.headers = headers
        super().__init__(f"{status} {self.code}: {self.message}")


class Unauthorized(ErrorResponse):
    """401: the API key is missing, unknown or revoked."""


class NotSupportedForPlatform(ErrorResponse):
    """403: the endpoint is not available on the tenant's platform."""


class NotFound(ErrorResponse):
    """404: no such record (or endpoint) for this tenant."""


class Conflict(ErrorResponse):
    """409: a request with the same Idempotency-Key was still running, after the retries."""


class PayloadTooLarge(ErrorResponse):
    """413: a single record is larger than the server accepts in one body."""


class WrongRegion(ErrorResponse):
    """421: the tenant is hosted by a server in another region."""


class RateLimited(ErrorResponse):
    """429: too many pushes, still after the retries."""

    @property
    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers)


class ServerFailure(ErrorResponse):
    """5xx: the server failed, still after the retries; nothing of that request was applied."""


class ValidationFailed(ErrorResponse):
    """400 validation_failed: every problem found, by record index and field path."""

    @property
    def errors(self) -> list[Issue]:
        return [Issue(e["index"], e["path"], e["message"]) for e in self.body.get("errors", [])]


_BY_STATUS: dict[int, type[ErrorResponse]] = {
    401: Unauthorized,
    403: NotSupportedForPlatform,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    421: WrongRegion,
    429: RateLimited,
}


def response_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = load_json(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_from_response(response: httpx.Response) -> ErrorResponse:
    """The typed error for an error answer."""
    body, status = response_body(response), response.status_code
    kind = _BY_STATUS.get(status, ServerFailure if status >= 500 else ErrorResponse)
    if status == 400 and body.get("error") == "validation_failed":
        kind = ValidationFailed
    return kind(status, body, response.headers)


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), if any."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = (email.utils.parsedate_to_datetime(raw) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def shift_issues(issues: Iterable[Mapping[str, Any]], offset: int) -> list[Issue]:
    """Issues of a batch with their indexes made positions in the whole input."""
    return [Issue(offset + int(i["index"]), str(i["path"]), str(i["message"])) for i in issues]


@dataclass
class BatchOutcome:
    """One push request: which records it held (by input index) and what became of them."""

    first: int
    count: int
    status: int
    request_id: str | None
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    rejected: int = 0  # records left out with on_error="skip" (listed in errors)
    warnings: list[Issue] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    message: str = ""
    retries: int = 0
    dry_run: bool = False  # nothing was changed: the counts are what the push would do
    replayed: bool = False  # the server's answer to an earlier try of this batch (same key)

    @property
    def accepted(self) -> bool:
        return self.status == 200


@dataclass
class PushSummary:
    """What a push of many records did, batch by batch; indexes are positions in the input."""

    endpoint: str
    records: int
    planned_batches: int
    batches: list[BatchOutcome] = field(default_factory=list)

    def _total(self, name: str) -> int:
        return sum(getattr(batch, name) for batch in self.batches)

    @property
    def created(self) -> int:
        return self._total("created")

    @property
    def updated(self) -> int:
        return self._total("updated")

    @property
    def deleted(self) -> int:
        return self._total("deleted")

    @property
    def unchanged(self) -> int:
        return self._total("unchanged")

    @property
    def skipped(self) -> int:
        """Records left out of accepted batches as invalid (on_error="skip")."""
        return self._total("rejected")

    @property
    def retries(self) -> int:
        return self._total("retries")

    @property
    def done(self) -> int:
        """Records answered so far, accepted or not."""
        return self._total("count")

    @property
    def received(self) -> int:
        return sum(batch.count for batch in self.batches if batch.accepted)

    @property
    def rejected(self) -> list[BatchOutcome]:
        return [batch for batch in self.batches if not batch.accepted]

    @property
    def warnings(self) -> list[Issue]:
        return [issue for batch in self.batches for issue in batch.warnings]

    @property
    def errors(self) -> list[Issue]:
        return [issue for batch in self.batches for issue in batch.errors]

    @property
    def ok(self) -> bool:
        """Every record applied (or, in a dry run, applicable)."""
        return not self.rejected and not self.skipped

    def raise_for_errors(self) -> None:
        """Raise ValidationFailed, with every error of every rejected batch and every record
        left out, if any."""
        if self.ok:
            return
        rejected = self.rejected
        failed = rejected or [batch for batch in self.batches if batch.rejected]
        not_applied = sum(b.count for b in rejected) + self.skipped
        body = {
            "error": "validation_failed",
            "message": f"{len(rejected)} of {len(self.batches)} batches rejected; "
            f"{not_applied} records not applied",
            "requestId": failed[0].request_id,
            "errors": [issue.as_json() for issue in self.errors],
        }
        raise ValidationFailed(400, body, httpx.Headers())


def batch_outcome(response: httpx.Response, first: int, count: int, retries: int) -> BatchOutcome:
    """A batch's outcome; errors that concern the whole push (401, 403, 5xx, ...) are raised."""
    body, status = response_body(response), response.status_code
    request_id = body.get("requestId") or response.headers.get("x-request-id")
    outcome = BatchOutcome(first, count, status, request_id, retries=retries)
    outcome.dry_run = body.get("dryRun") is True
    outcome.replayed = response.headers.get("idempotent-replayed") == "true"
    if status == 200:
        for name in ("created", "updated", "deleted", "unchanged", "rejected"):
            setattr(outcome, name, int(body.get(name, 0)))
        outcome.warnings = shift_issues(body.get("warnings", []), first)
        outcome.errors = shift_issues(body.get("errors", []), first)
        return outcome
    error = error_from_response(response)
    if isinstance(error, ValidationFailed):
        outcome.warnings = shift_issues(body.get("warnings", []), first)
        outcome.errors = shift_issues(body.get("errors", []), first)
    elif isinstance(error, PayloadTooLarge):
        outcome.errors = [Issue(first, "(record)", error.message)]
    else:
        raise error
    outcome.message = error.message
    return outcome
