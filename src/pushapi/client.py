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

The typed errors and the push summary are in `pushapi.outcomes` (re-exported here).
"""

import asyncio
import random
import time
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sized,
)
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, cast
from urllib.parse import quote

import httpx

from pushapi.outcomes import (
    BatchOutcome,
    ConnectionFailed,
    ErrorResponse,
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
    batch_outcome,
    error_from_response,
    retry_after_seconds,
)
from pushapi.schema.values import format_datetime
from pushapi.store.documents import dump_document, load_json

__all__ = [
    "AsyncPushClient",
    "BatchOutcome",
    "ConnectionFailed",
    "ErrorResponse",
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

DEFAULT_URL = "http://127.0.0.1:8080"
ENDPOINTS = ("contactinfo", "list", "meeting", "product")
DEFAULT_BATCH_SIZE = 1000
MAX_RECORDS = 10_000  # SPEC 3: the server's default PUSHAPI_MAX_RECORDS
MAX_BODY_BYTES = 32 * 1024 * 1024  # SPEC 3: the server's default PUSHAPI_MAX_BODY_BYTES
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF = 30.0
Document = dict[str, Any]
Records = Iterable[Mapping[str, Any]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    path: str
    params: dict[str, str] | None = None
    content: bytes | None = None


@dataclass(frozen=True, slots=True)
class _Pause:
    seconds: float
    reason: str


# A plan yields calls and pauses; a call is answered with its response (or a TransportError
# thrown in), a pause with None; the plan returns the method's result.
Plan = Generator[_Call | _Pause, httpx.Response | None, T]
Progress = Callable[[PushSummary, BatchOutcome], None]
OnRetry = Callable[[float, str], None]


def _describe(error: httpx.TransportError) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _batches(records: Records, batch_size: int, max_bytes: int) -> Iterator[list[bytes]]:
    """Encoded records in batches under both limits: records and body bytes (SPEC 3: 413)."""
    batch: list[bytes] = []
    body = 2  # the brackets of the JSON array
    for record in records:
        item = dump_document(record)
        extra = len(item) + 1 if batch else len(item)  # a comma between records
        if batch and (len(batch) >= batch_size or body + extra > max_bytes):
            yield batch
            batch, body, extra = [], 2, len(item)
        batch.append(item)
        body += extra
    if batch:
        yield batch


class _Plans:
    """The plans of every client method, carried out by a sync or an async driver."""

    def __init__(
        self, base_url: str, api_key: str, retries: int, backoff: float, max_batch_bytes: int
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"ApiKey": api_key, "Accept": "application/json"}
        self.retries = retries
        self.backoff = backoff
        self.max_batch_bytes = max_batch_bytes

    def exchange(self, call: _Call) -> Plan[tuple[httpx.Response, int]]:
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
            yield _Pause(delay, reason)

    def read(self, path: str, params: dict[str, str] | None = None) -> Plan[Any]:
        response, _ = yield from self.exchange(_Call("GET", path, params))
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
        self, endpoint: str, records: Records, batch_size: int,
        progress: Progress | None,
    ) -> Plan[PushSummary]:  # fmt: skip
        """Push every record in batches; a rejected batch is reported and the others go on."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
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
            try:
                response, retries = yield from self.exchange(
                    _Call("POST", f"/v2/{endpoint}", content=b"[" + b",".join(batch) + b"]")
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


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _contact_query(modified_since: str | datetime | None, include_deleted: bool) -> dict[str, str]:
    params = {"includeDeleted": _flag(include_deleted)}
    if modified_since is not None:
        since = modified_since
        params["modifiedSince"] = since if isinstance(since, str) else format_datetime(since)
    return params


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


class _Client:
    """What both clients share: settings, the plans, and how a call becomes a request."""

    def __init__(
        self, base_url: str, api_key: str, retries: int, backoff: float, max_batch_bytes: int,
        on_retry: OnRetry | None,
    ) -> None:  # fmt: skip
        self._plans = _Plans(base_url, api_key, retries, backoff, max_batch_bytes)
        self._on_retry = on_retry

    @property
    def base_url(self) -> str:
        return self._plans.base_url

    def _request(self, call: _Call) -> dict[str, Any]:
        headers = dict(self._plans.headers)
        if call.content is not None:
            headers["Content-Type"] = "application/json"
        return {
            "method": call.method,
            "url": self._plans.base_url + call.path,
            "params": call.params,
            "content": call.content,
            "headers": headers,
        }


class PushClient(_Client):
    """A blocking client of one tenant (its API key); close it, or use it in a `with` block.

    `transport` (an httpx transport) or `http_client` (an httpx.Client, e.g. Starlette's
    TestClient) replaces the network; `sleep` replaces the pause between retries.
    """

    def __init__(
        self, base_url: str = DEFAULT_URL, api_key: str = "", *,
        transport: httpx.BaseTransport | None = None, http_client: httpx.Client | None = None,
        timeout: float = 300.0, retries: int = 5, backoff: float = 0.5,
        max_batch_bytes: int = MAX_BODY_BYTES, on_retry: OnRetry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        super().__init__(base_url, api_key, retries, backoff, max_batch_bytes, on_retry)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(transport=transport, timeout=_timeout(timeout))
        self._sleep = sleep

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _run(self, plan: Plan[T]) -> T:
        reply: httpx.Response | None = None
        failure: httpx.TransportError | None = None
        while True:
            try:
                step = plan.throw(failure) if failure is not None else plan.send(reply)
            except StopIteration as done:
                return cast(T, done.value)
            reply = failure = None
            if isinstance(step, _Pause):
                if self._on_retry is not None:
                    self._on_retry(step.seconds, step.reason)
                self._sleep(step.seconds)
                continue
            try:
                reply = self._http.request(**self._request(step))
            except httpx.TransportError as error:
                failure = error

    def _pages(self, path: str, params: dict[str, str]) -> Iterator[Document]:
        cursor: str | None = None
        while True:
            items, cursor = self._run(self._plans.page(path, params, cursor))
            yield from items
            if cursor is None:
                return

    def push(
        self, endpoint: str, records: Records, *,
        batch_size: int = DEFAULT_BATCH_SIZE, progress: Progress | None = None,
    ) -> PushSummary:  # fmt: skip
        """Push records to `/v2/{endpoint}` in batches under the server's limits."""
        return self._run(self._plans.push(endpoint, records, batch_size, progress))

    def push_contacts(
        self, records: Records, *, batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
    ) -> PushSummary:  # fmt: skip
        return self.push("contactinfo", records, batch_size=batch_size, progress=progress)

    def push_lists(
        self, records: Records, *, batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
    ) -> PushSummary:  # fmt: skip
        return self.push("list", records, batch_size=batch_size, progress=progress)

    def push_meetings(
        self, records: Records, *, batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
    ) -> PushSummary:  # fmt: skip
        return self.push("meeting", records, batch_size=batch_size, progress=progress)

    def push_products(
        self, records: Records, *, batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
    ) -> PushSummary:  # fmt: skip
        return self.push("product", records, batch_size=batch_size, progress=progress)

    def get_contact(self, contact_id: str, *, include_deleted: bool = False) -> Document:
        params = {"includeDeleted": _flag(include_deleted)}
        return self._run(self._plans.one("contacts", contact_id, params))

    def get_list(self, list_id: str) -> Document:
        """A list with every one of its ContactIds."""
        return self._run(self._plans.whole_list(list_id))

    def get(self, collection: str, key: str) -> Document:
        """One record: get("groups", id), get("meetings", id), get("pushes", request_id), ..."""
        return self._run(self._plans.one(collection, key))

    def iter_contacts(
        self, *, modified_since: str | datetime | None = None, include_deleted: bool = False,
        page_size: int = 100,
    ) -> Iterator[Document]:  # fmt: skip
        params = {"limit": str(page_size), **_contact_query(modified_since, include_deleted)}
        return self._pages("/v2/contacts", params)

    def iter_groups(self, *, page_size: int = 100) -> Iterator[Document]:
        return self._pages("/v2/groups", {"limit": str(page_size)})

    def iter_lists(self, *, page_size: int = 100) -> Iterator[Document]:
        return self._pages("/v2/lists", {"limit": str(page_size)})

    def iter_pushes(self, *, page_size: int = 100) -> Iterator[Document]:
        """The push log, newest first."""
        return self._pages("/v2/pushes", {"limit": str(page_size)})


class AsyncPushClient(_Client):
    """The asyncio client: PushClient's methods, awaited (iterators are `async for`)."""

    def __init__(
        self, base_url: str = DEFAULT_URL, api_key: str = "", *,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None, timeout: float = 300.0, retries: int = 5,
        backoff: float = 0.5, max_batch_bytes: int = MAX_BODY_BYTES,
        on_retry: OnRetry | None = None, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:  # fmt: skip
        super().__init__(base_url, api_key, retries, backoff, max_batch_bytes, on_retry)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            transport=transport, timeout=_timeout(timeout)
        )
        self._sleep = sleep

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, *_exc: type[BaseException] | BaseException | TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _run(self, plan: Plan[T]) -> T:
        reply: httpx.Response | None = None
        failure: httpx.TransportError | None = None
        while True:
            try:
                step = plan.throw(failure) if failure is not None else plan.send(reply)
            except StopIteration as done:
                return cast(T, done.value)
            reply = failure = None
            if isinstance(step, _Pause):
                if self._on_retry is not None:
                    self._on_retry(step.seconds, step.reason)
                await self._sleep(step.seconds)
                continue
            try:
                reply = await self._http.request(**self._request(step))
            except httpx.TransportError as error:
                failure = error

    async def _pages(self, path: str, params: dict[str, str]) -> AsyncIterator[Document]:
        cursor: str | None = None
        while True:
            items, cursor = await self._run(self._plans.page(path, params, cursor))
            for item in items:
                yield item
            if cursor is None:
                return

    async def push(
        self, endpoint: str, records: Records, *,
        batch_size: int = DEFAULT_BATCH_SIZE, progress: Progress | None = None,
    ) -> PushSummary:  # fmt: skip
        """Push records to `/v2/{endpoint}` in batches under the server's limits."""
        return await self._run(self._plans.push(endpoint, records, batch_size, progress))

    async def push_contacts(
        self, records: Records, *, batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
    ) -> PushSummary:  # fmt: skip
        return await self.push("contactinfo", records, batch_size=batch_size, progress=progress)

    async def push_lists(
        self, records: Records, *, batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
    ) -> PushSummary:  # fmt: skip
        return await self.push("list", records, batch_size=batch_size, progress=progress)

    async def push_meetings(
        self, records: Records, *, batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
    ) -> PushSummary:  # fmt: skip
        return await self.push("meeting", records, batch_size=batch_size, progress=progress)

    async def push_products(
        self, records: Records, *, batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Progress | None = None,
    ) -> PushSummary:  # fmt: skip
        return await self.push("product", records, batch_size=batch_size, progress=progress)

    async def get_contact(self, contact_id: str, *, include_deleted: bool = False) -> Document:
        params = {"includeDeleted": _flag(include_deleted)}
        return await self._run(self._plans.one("contacts", contact_id, params))

    async def get_list(self, list_id: str) -> Document:
        """A list with every one of its ContactIds."""
        return await self._run(self._plans.whole_list(list_id))

    async def get(self, collection: str, key: str) -> Document:
        """One record: get("groups", id), get("meetings", id), get("pushes", request_id), ..."""
        return await self._run(self._plans.one(collection, key))

    def iter_contacts(
        self, *, modified_since: str | datetime | None = None, include_deleted: bool = False,
        page_size: int = 100,
    ) -> AsyncIterator[Document]:  # fmt: skip
        params = {"limit": str(page_size), **_contact_query(modified_since, include_deleted)}
        return self._pages("/v2/contacts", params)

    def iter_groups(self, *, page_size: int = 100) -> AsyncIterator[Document]:
        return self._pages("/v2/groups", {"limit": str(page_size)})

    def iter_lists(self, *, page_size: int = 100) -> AsyncIterator[Document]:
        return self._pages("/v2/lists", {"limit": str(page_size)})

    def iter_pushes(self, *, page_size: int = 100) -> AsyncIterator[Document]:
        """The push log, newest first."""
        return self._pages("/v2/pushes", {"limit": str(page_size)})
