"""The blocking and the asyncio client: each carries out the plans of plans.py with httpx."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack, cast

import httpx

from pushapi.client.outcomes import PushSummary
from pushapi.client.plans import (
    DEFAULT_URL,
    MAX_BODY_BYTES,
    Call,
    OnRetry,
    Pause,
    Plan,
    Plans,
    PushOptions,
    Records,
    contact_query,
    flag,
)

T = TypeVar("T")
Document = dict[str, Any]


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


class _Client:
    """What both clients share: settings, the plans, and how a call becomes a request."""

    def __init__(
        self, base_url: str, api_key: str, retries: int, backoff: float, max_batch_bytes: int,
        on_retry: OnRetry | None,
    ) -> None:  # fmt: skip
        self._plans = Plans(base_url, api_key, retries, backoff, max_batch_bytes)
        self._on_retry = on_retry

    @property
    def base_url(self) -> str:
        return self._plans.base_url

    def _request(self, call: Call) -> dict[str, Any]:
        headers = dict(self._plans.headers)
        if call.content is not None:
            headers["Content-Type"] = "application/json"
        if call.headers:
            headers.update(call.headers)
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
            if isinstance(step, Pause):
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

    def push(self, endpoint: str, records: Records, **options: Unpack[PushOptions]) -> PushSummary:
        """Push records to `/v2/{endpoint}` in batches under the server's limits (options:
        plans.PushOptions)."""
        return self._run(self._plans.push(endpoint, records, **options))

    def push_contacts(self, records: Records, **options: Unpack[PushOptions]) -> PushSummary:
        return self.push("contactinfo", records, **options)

    def push_lists(self, records: Records, **options: Unpack[PushOptions]) -> PushSummary:
        return self.push("list", records, **options)

    def push_meetings(self, records: Records, **options: Unpack[PushOptions]) -> PushSummary:
        return self.push("meeting", records, **options)

    def push_products(self, records: Records, **options: Unpack[PushOptions]) -> PushSummary:
        return self.push("product", records, **options)

    def get_contact(self, contact_id: str, *, include_deleted: bool = False) -> Document:
        params = {"includeDeleted": flag(include_deleted)}
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
        params = {"limit": str(page_size), **contact_query(modified_since, include_deleted)}
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
            if isinstance(step, Pause):
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
        self, endpoint: str, records: Records, **options: Unpack[PushOptions]
    ) -> PushSummary:
        """Push records to `/v2/{endpoint}` in batches under the server's limits (options:
        plans.PushOptions)."""
        return await self._run(self._plans.push(endpoint, records, **options))

    async def push_contacts(self, records: Records, **options: Unpack[PushOptions]) -> PushSummary:
        return await self.push("contactinfo", records, **options)

    async def push_lists(self, records: Records, **options: Unpack[PushOptions]) -> PushSummary:
        return await self.push("list", records, **options)

    async def push_meetings(self, records: Records, **options: Unpack[PushOptions]) -> PushSummary:
        return await self.push("meeting", records, **options)

    async def push_products(self, records: Records, **options: Unpack[PushOptions]) -> PushSummary:
        return await self.push("product", records, **options)

    async def get_contact(self, contact_id: str, *, include_deleted: bool = False) -> Document:
        params = {"includeDeleted": flag(include_deleted)}
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
        params = {"limit": str(page_size), **contact_query(modified_since, include_deleted)}
        return self._pages("/v2/contacts", params)

    def iter_groups(self, *, page_size: int = 100) -> AsyncIterator[Document]:
        return self._pages("/v2/groups", {"limit": str(page_size)})

    def iter_lists(self, *, page_size: int = 100) -> AsyncIterator[Document]:
        return self._pages("/v2/lists", {"limit": str(page_size)})

    def iter_pushes(self, *, page_size: int = 100) -> AsyncIterator[Document]:
        """The push log, newest first."""
        return self._pages("/v2/pushes", {"limit": str(page_size)})
