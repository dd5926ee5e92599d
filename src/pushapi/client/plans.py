"""The client's plans, sans I/O: each method of the clients is a generator that yields the HTTP
calls and pauses it needs and returns the method's result, so that batching, retries and error
mapping are written once for the blocking and the asyncio client (clients.py)."""

import itertools
import random
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict, TypeVar
from urllib.parse import quote

import httpx

from pushapi.client.outcomes import (
    BatchOutcome,
    ConnectionFailed,
    PushApiError,
    PushSummary,
    batch_outcome,
    error_from_response,
    retry_after_seconds,
)
from pushapi.client.wire import dump_json, format_datetime, load_json

DEFAULT_URL = "http://127.0.0.1:8080"
ENDPOINTS = ("contactinfo", "list", "meeting", "product")
DEFAULT_BATCH_SIZE = 1000
MAX_BODY_BYTES = 32 * 1024 * 1024  # SPEC 3: the server's default PUSHAPI_MAX_BODY_BYTES
# 409: the first try of a batch (same Idempotency-Key) is still running on the server.
RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
MAX_KEY_PREFIX = 240  # an Idempotency-Key is at most 255 characters; "-{batch}" is added
MAX_BACKOFF = 30.0
Document = dict[str, Any]
Records = Iterable[Mapping[str, Any]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    params: dict[str, str] | None = None
    content: bytes | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float
    reason: str


# A plan yields calls and pauses; a call is answered with its response (or a TransportError
# thrown in), a pause with None; the plan returns the method's result.
Plan = Generator[Call | Pause, httpx.Response | None, T]
Progress = Callable[[PushSummary, BatchOutcome], None]
OnRetry = Callable[[float, str], None]
OnError = Literal["reject", "skip"]


class PushOptions(TypedDict, total=False):
    """The options of every push method (SPEC 3.2).

    batch_size: records per request (default 1000); progress: called after each batch;
    dry_run: the server checks and counts everything and changes nothing; on_error: "skip"
    applies the valid records of a batch and lists the others in its errors ("reject", the
    default, applies none of a batch holding an invalid record); idempotency_key: the key of
    the push, sent as "{key}-{n}" with its n-th batch (default: a random key per batch). Either
    way a batch retried after a lost answer is replayed by the server, never applied twice.
    """

    batch_size: int
    progress: Progress | None
    dry_run: bool
    on_error: OnError
    idempotency_key: str | None


def push_query(dry_run: bool, on_error: OnError) -> dict[str, str] | None:
    """The query parameters of a push; None for the defaults."""
    if on_error not in ("reject", "skip"):
        raise ValueError(f"on_error must be 'reject' or 'skip', got {on_error!r}")
    params = {}
    if dry_run:
        params["dryRun"] = "true"
    if on_error == "skip":
        params["onError"] = "skip"
    return params or None


def batch_keys(idempotency_key: str | None) -> Iterator[str]:
    """The Idempotency-Key of each batch sent, in order: "{key}-1", "{key}-2", ... or random."""
    if idempotency_key is None:
        return (uuid.uuid4().hex for _ in itertools.count())
    if not 1 <= len(idempotency_key) <= MAX_KEY_PREFIX or not all(
        "!" <= character <= "~" for character in idempotency_key
    ):
        raise ValueError(
            f"idempotency_key must be 1-{MAX_KEY_PREFIX} visible ASCII characters (no spaces)"
        )
    return (f"{idempotency_key}-{number}" for number in itertools.count(1))


def _describe(error: httpx.TransportError) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _batches(records: Records, batch_size: int, max_bytes: int) -> Iterator[list[bytes]]:
    """Encoded records in batches under both limits: records and body bytes (SPEC 3: 413)."""
    batch: list[bytes] = []
    body = 2  # the brackets of the JSON array
    for record in records:
        item = dump_json(record)
        extra = len(item) + 1 if batch else len(item)  # a comma between records
        if batch and (len(batch) >= batch_size or body + extra > max_bytes):
            yield batch
            batch, body, extra = [], 2, len(item)
        batch.append(item)
        body += extra
    if batch:
        yield batch


class Plans:
    """The plans of every client method, carried out by a sync or an async driver."""

    def __init__(
        self, base_url: str, api_key: str, retries: int, backoff: float, max_batch_bytes: int
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"ApiKey": api_key, "Accept": "application/json"}
        self.retries = retries
        self.backoff = backoff
        self.max_batch_bytes = max_batch_bytes

    def exchange(self, call: Call) -> Plan[tuple[httpx.Response, int]]:
        """Make a call, retrying 429, 5xx and connection errors: the last answer, retries made."""
        attempt = 0
        while True:
            try:
                response = yield call
            except httpx.TransportError as error:
                if attempt >= self.retries or isinstance(error, httpx.UnsupportedProtocol):
                    tried = f" (tried {attempt + 1} times)" if attempt else ""
                    message = f"cannot reach {self.base_url}: {_describe(error)}{tried}"
                    raise ConnectionFailed(message) from error
                delay, reason = None, _describe(error)
            else:
                assert response is not None
                status = response.status_code
                if status not in RETRY_STATUSES or attempt >= self.retries:
                    return response, attempt
                delay, reason = retry_after_seconds(response.headers), f"HTTP {status}"
            if delay is None:
                delay = min(MAX_BACKOFF, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)
            attempt += 1
            yield Pause(delay, reason)

    def read(self, path: str, params: dict[str, str] | None = None) -> Plan[Any]:
        response, _ = yield from self.exchange(Call("GET", path, params))
        if not response.is_success:
            raise error_from_response(response)
        return load_json(response.content)  # decimals stay exact

    def one(
        self, collection: str, key: str, params: dict[str, str] | None = None
    ) -> Plan[Document]:
        document: Document = yield from self.read(f"/v2/{collection}/{quote(key, safe='')}", params)
        return document

    def whole_list(self, list_id: str) -> Plan[Document]:
        """A list with all its ContactIds, following the pages of members."""
        path = f"/v2/lists/{quote(list_id, safe='')}"
        found: Document = yield from self.read(path)
        while found.get("nextCursor"):
            more = yield from self.read(path, {"cursor": found["nextCursor"]})
            found["ContactIds"] += more["ContactIds"]
            found["nextCursor"] = more["nextCursor"]
        return found

    def page(
        self, path: str, params: dict[str, str], cursor: str | None
    ) -> Plan[tuple[list[Document], str | None]]:
        query = {**params, "cursor": cursor} if cursor else params
        body = yield from self.read(path, query)
        return body["items"], body["nextCursor"]

    def push(
        self, endpoint: str, records: Records, *, batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None, dry_run: bool = False, on_error: OnError = "reject",
        idempotency_key: str | None = None,
    ) -> Plan[PushSummary]:  # fmt: skip
        """Push every record in batches; a rejected batch is reported and the others go on."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        params = push_query(dry_run, on_error)
        keys = None if dry_run else batch_keys(idempotency_key)  # a dry run changes nothing
        total = len(records) if isinstance(records, Sized) else 0
        summary = PushSummary(endpoint, total, -(-total // batch_size))
        batches = _batches(records, batch_size, self.max_batch_bytes)  # encoded as they go
        pending: deque[list[bytes]] = deque()
        first = 0
        while True:
            if not pending:
                following = next(batches, None)
                if following is None:
                    break
                pending.append(following)
            batch = pending.popleft()
            summary.planned_batches = max(summary.planned_batches, len(summary.batches) + 1)
            body = b"[" + b",".join(batch) + b"]"
            # One key per batch sent, the same on its retries: a retried batch whose first
            # answer was lost is replayed by the server, not applied again.
            headers = None if keys is None else {"Idempotency-Key": next(keys)}
            try:
                response, retries = yield from self.exchange(
                    Call("POST", f"/v2/{endpoint}", params, body, headers)
                )
                if response.status_code == 413 and len(batch) > 1:
                    # The server's limits are below ours: halve the batch (nothing was applied).
                    middle = len(batch) // 2
                    pending.extendleft([batch[middle:], batch[:middle]])
                    summary.planned_batches += 1
                    continue
                outcome = batch_outcome(response, first, len(batch), retries)
            except PushApiError as error:
                error.summary = summary  # what was applied before the push stopped
                raise
            first += len(batch)
            summary.batches.append(outcome)
            if progress is not None:
                progress(summary, outcome)
        summary.records = first
        return summary


def flag(value: bool) -> str:
    return "true" if value else "false"


def contact_query(modified_since: str | datetime | None, include_deleted: bool) -> dict[str, str]:
    params = {"includeDeleted": flag(include_deleted)}
    if modified_since is not None:
        since = modified_since
        params["modifiedSince"] = since if isinstance(since, str) else format_datetime(since)
    return params
