"""The push endpoints (SPEC 3): read the body, validate every record, apply in one transaction,
answer, and log the push whatever its outcome."""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from msgspec import Raw
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout

from pushapi.auth import CallerDep
from pushapi.config import Settings
from pushapi.errors import (
    ApiError,
    InvalidBody,
    NotSupportedForPlatform,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from pushapi.metrics import Metrics
from pushapi.schema.compiled import CompiledReader
from pushapi.schema.contact import CONTACT_INFO
from pushapi.schema.fields import ObjectSchema, Record, Report, parse_object
from pushapi.schema.lists import LIST
from pushapi.schema.meeting import MEETING
from pushapi.schema.openapi import push_openapi
from pushapi.schema.product import PRODUCT
from pushapi.store.catalog import apply_meeting_push, apply_product_push
from pushapi.store.contacts import apply_contact_push, recognise_contacts
from pushapi.store.counts import Counts
from pushapi.store.documents import decode_record, load_json, split_records
from pushapi.store.engine import write_transaction
from pushapi.store.lists import apply_list_push
from pushapi.store.pushlog import PushEntry, write_push_entry
from pushapi.store.records import PushBatch, Recognised, Recognition
from pushapi.tenants import PLATFORMS, Caller, Tenant

rejection_log = logging.getLogger("pushapi.push")
# SPEC 3: a push that cannot get a database connection in time is refused, never left hanging.
BUSY_MESSAGE = "every database connection is busy; retry shortly"
ApplyPush = Callable[[Connection, Tenant, PushBatch, Report, datetime], Counts]
# Finds the records of a push stored earlier byte for byte.
Recognise = Callable[[Engine, Tenant, list[Raw]], Recognition]
JSON_MEDIA_TYPES = ("application/json", "text/json")
OPEN_BRACE = ord("{")
# SPEC 4.2-4.4: lists, meetings and products are not available on community-essentials.
NOT_ESSENTIALS = tuple(platform for platform in PLATFORMS if platform != "community-essentials")


@dataclass(frozen=True)
class PushEndpoint:
    """One push endpoint: the object it takes, how a batch is applied, where it is available."""

    name: str
    schema: ObjectSchema
    apply: ApplyPush
    platforms: tuple[str, ...] = PLATFORMS
    summary: str = ""
    recognise: Recognise | None = None
    reader: CompiledReader = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reader", CompiledReader(self.schema))


PUSH_ENDPOINTS: tuple[PushEndpoint, ...] = (
    PushEndpoint(
        "contactinfo",
        CONTACT_INFO,
        apply_contact_push,
        summary="Push contacts: details, groups, addresses, phones, e-mails and more",
        recognise=recognise_contacts,
    ),
    PushEndpoint(
        "list",
        LIST,
        apply_list_push,
        NOT_ESSENTIALS,
        summary="Push lists: add, remove or replace their members",
    ),
    PushEndpoint(
        "meeting",
        MEETING,
        apply_meeting_push,
        NOT_ESSENTIALS,
        summary="Push meetings: each record replaces the stored meeting, or deletes it",
    ),
    PushEndpoint(
        "product",
        PRODUCT,
        apply_product_push,
        NOT_ESSENTIALS,
        summary="Push products: each record replaces the stored product, or deletes it",
    ),
)


def _check_media_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES:
        shown = media_type or "none"
        raise UnsupportedMediaType(
            f"Content-Type must be application/json or text/json, got {shown}"
        )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _parse_records(body: bytes, max_records: int) -> list[Any]:
    """The body as a JSON array of objects (SPEC 3: otherwise 400, or 413 when too many)."""
    try:
        data = load_json(body)
    except RecursionError:
        raise InvalidBody("body is nested too deeply") from None
    except UnicodeDecodeError:
        raise InvalidBody("body is not valid UTF-8 text") from None
    except ValueError as problem:
        raise InvalidBody(f"body is not valid JSON: {problem}") from None
    except ArithmeticError:  # decimal.InvalidOperation: an exponent past what Decimal holds
        raise InvalidBody("body is not valid JSON: a number is too large to read") from None
    if not isinstance(data, list):
        raise InvalidBody("body must be a JSON array of records")
    _check_records(data, max_records, lambda record: isinstance(record, dict))
    return data


def _check_records(records: list[Any], max_records: int, is_object: Callable[[Any], bool]) -> None:
    if len(records) > max_records:
        raise PayloadTooLarge(
            f"{len(records)} records exceed the limit of {max_records} records per push"
        )
    for index, record in enumerate(records):
        if not is_object(record):
            raise InvalidBody(f"body must be a JSON array of objects; record {index} is not one")


def _read_records(
    endpoint: PushEndpoint, engine: Engine, tenant: Tenant, body: bytes, max_records: int,
    report: Report, entry: PushEntry,
) -> PushBatch:  # fmt: skip
    """Read and validate every record of the body; a recognised record is not read at all."""
    raws = split_records(body)
    if raws is None:  # not a JSON array as msgspec takes it: load_json decides and explains
        records: list[Any] = _parse_records(body, max_records)
        entry.received = len(records)
        schema = endpoint.schema
        parsed = [parse_object(schema, record, i, "", report) for i, record in enumerate(records)]
        return PushBatch(_valid(parsed, report))
    try:
        _check_records(raws, max_records, lambda raw: memoryview(raw)[0] == OPEN_BRACE)
    except (PayloadTooLarge, InvalidBody):
        # msgspec splits bodies load_json refuses (an integer of 5,000 digits): load_json decides
        # which answer the body gets, as it did before the split existed.
        _parse_records(body, max_records)
        raise
    entry.received = len(raws)
    recognition = None if endpoint.recognise is None else endpoint.recognise(engine, tenant, raws)
    known = {} if recognition is None else recognition.known
    # An escaped NUL must be refused with its field's name: parse_object reads such a body.
    compiled = None if b"\\u0000" in body else endpoint.reader
    items: list[Record | Recognised | None] = []
    try:
        for index, raw in enumerate(raws):
            item: Record | Recognised | None = known.get(index)
            if item is None and compiled is not None:
                item = compiled.read(raw)
            if item is None:
                item = parse_object(endpoint.schema, decode_record(raw), index, "", report)
            items.append(item)
    except (ValueError, RecursionError, ArithmeticError):
        _parse_records(body, max_records)  # raises the exact InvalidBody
        raise
    if recognition is None:
        return PushBatch(_valid(items, report))
    return PushBatch(_valid(items, report), recognition.raw_digests, recognition.version)


def _valid(
    items: Sequence[Record | Recognised | None], report: Report
) -> list[Record | Recognised]:
    if report.errors:
        raise ValidationFailed(report.errors)
    return [item for item in items if item is not None]


def _validate_and_apply(
    endpoint: PushEndpoint, engine: Engine, settings: Settings, tenant: Tenant,
    payload: list[bytes], entry: PushEntry,
) -> Report:  # fmt: skip
    # The body is let go once its records are read (the raw records are slices of it), so that
    # a push at the body limit holds the body and the records, then the records and the stored
    # documents, never all three (the benchmark's --max-body measures the peak).
    report = Report()
    try:
        batch = _read_records(
            endpoint, engine, tenant, payload.pop(), settings.max_records, report, entry
        )
    except ValidationFailed:
        entry.warnings = report.warnings
        raise
    with write_transaction(engine, tenant.tenant_id) as conn:
        entry.counts = endpoint.apply(conn, tenant, batch, report, entry.received_at)
        entry.warnings = report.warnings
        entry.duration_ms = (time.perf_counter() - entry.started) * 1000
        write_push_entry(conn, tenant.tenant_id, entry)
    return report


def _log_rejection(engine: Engine, tenant_id: int, entry: PushEntry) -> None:
    try:
        with write_transaction(engine, tenant_id) as conn:
            write_push_entry(conn, tenant_id, entry)
    except PoolTimeout:
        # No connection came free in time (the push itself may have been refused for that):
        # the request still answers, and the access log still has its line.
        rejection_log.warning(
            "push not written to the push log: no database connection came free",
            extra={"fields": {"request_id": entry.request_id, "status": entry.status}},
        )


async def handle_push(endpoint: PushEndpoint, request: Request, caller: Caller) -> Response:
    """Run one push request through the whole flow and answer it."""
    state = request.app.state
    settings: Settings = state.settings
    metrics: Metrics = state.metrics
    tenant = caller.tenant
    entry = PushEntry(
        request_id=request.state.request_id,
        endpoint=endpoint.name,
        key_id=caller.key_id,
        received_at=datetime.now(UTC),
    )
    try:
        if tenant.platform not in endpoint.platforms:
            raise NotSupportedForPlatform(
                f"/v2/{endpoint.name} is not available on the {tenant.platform} platform"
            )
        retry_after = state.rate_limiter.retry_after(tenant.tenant_id)
        if retry_after is not None:
            raise RateLimited(f"too many pushes; retry in {retry_after} s", retry_after)
        _check_media_type(request)
        payload = [await _read_body(request, settings.max_body_bytes)]
        try:
            await run_in_threadpool(
                _validate_and_apply, endpoint, state.engine, settings, tenant, payload, entry
            )
        except PoolTimeout:
            raise ServiceUnavailable(BUSY_MESSAGE) from None
    except ApiError as error:
        entry.status, entry.error, entry.message = error.status, error.code, error.message
        if isinstance(error, ValidationFailed):
            entry.errors = error.issues
        metrics.count_records(endpoint.name, "rejected", entry.received)
        entry.duration_ms = (time.perf_counter() - entry.started) * 1000
        await run_in_threadpool(_log_rejection, state.engine, tenant.tenant_id, entry)
        raise
    except Exception:
        entry.status, entry.error = 500, "internal_error"
        entry.duration_ms = (time.perf_counter() - entry.started) * 1000
        await run_in_threadpool(_log_rejection, state.engine, tenant.tenant_id, entry)
        raise
    counts = entry.counts
    for outcome in ("created", "updated", "deleted", "unchanged"):
        metrics.count_records(endpoint.name, outcome, getattr(counts, outcome))
    body_json = {
        "requestId": entry.request_id,
        "received": entry.received,
        "created": counts.created,
        "updated": counts.updated,
        "deleted": counts.deleted,
        "unchanged": counts.unchanged,
        "warnings": [warning.as_json() for warning in entry.warnings],
    }
    return Response(orjson.dumps(body_json), media_type="application/json")


def _route(endpoint: PushEndpoint) -> Callable[..., Any]:
    async def push(request: Request, caller: CallerDep) -> Response:
        return await handle_push(endpoint, request, caller)

    push.__name__ = f"push_{endpoint.name}"
    push.__doc__ = endpoint.summary
    return push


def build_router() -> APIRouter:
    """A router with one POST route per push endpoint; other methods answer 405."""
    router = APIRouter(tags=["push"])
    for endpoint in PUSH_ENDPOINTS:
        router.add_api_route(
            f"/v2/{endpoint.name}",
            _route(endpoint),
            methods=["POST"],
            summary=endpoint.summary,
            **push_openapi(endpoint.schema),
        )
    return router
