"""Applying a push (SPEC 3): recognise what is stored already, read and check every record,
apply the valid batch in one transaction together with its push-log entry, and answer.

    split the body -> recognise (one read) -> read the records (no database)
      -> write transaction: apply, push log -> PushResult

A push refused on the way is logged too, without its records (`log_refusal`).
"""

import time
from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from pushapi.config import Settings
from pushapi.errors import (
    ApiError,
    InternalFailure,
    Issue,
    NotSupportedForPlatform,
    ServiceUnavailable,
    ValidationFailed,
)
from pushapi.push.endpoints import PushEndpoint
from pushapi.push.read import (
    RecordLimits,
    SplitBody,
    read_again,
    read_records,
    split_body,
    warn_records,
)
from pushapi.schema.fields import Record, Report
from pushapi.store.background import BackgroundWriter
from pushapi.store.counts import Counts
from pushapi.store.engine import write_transaction
from pushapi.store.pushlog import LoggedPush, push_log_row, write_push_log
from pushapi.store.records import PushBatch, Recognised, Recognition
from pushapi.tenants import Tenant

BUSY_MESSAGE = "the database is busy or cannot be reached; nothing was changed; retry shortly"


@dataclass(frozen=True, slots=True)
class PushRequest:
    """One push request: to which endpoint, for which tenant, with which key, when."""

    request_id: str
    endpoint: PushEndpoint
    tenant: Tenant
    key_id: str
    received_at: datetime
    started: float  # time.perf_counter() when it arrived

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


@dataclass(frozen=True, slots=True)
class PushLimits:
    """The limits of one push (SPEC 3 and docs/configuration.md): records, and the entries of
    one record's collections."""

    records: int
    per_record: RecordLimits

    @classmethod
    def of(cls, settings: Settings) -> "PushLimits":
        return cls(
            settings.max_records,
            RecordLimits(settings.max_collection_items, settings.max_list_ids),
        )


class PushResult(msgspec.Struct, rename="camel"):
    """The answer to an accepted push: received = created + updated + deleted + unchanged."""

    request_id: str
    received: int
    created: int
    updated: int
    deleted: int
    unchanged: int
    warnings: list[Issue]


def check_platform(push: PushRequest) -> None:
    """SPEC 4.2-4.4: 403 for an endpoint not available on the tenant's platform."""
    platform = push.tenant.platform
    if platform not in push.endpoint.platforms:
        raise NotSupportedForPlatform(
            f"/v2/{push.endpoint.name} is not available on the {platform} platform"
        )


def run_push(
    engine: Engine,
    push: PushRequest,
    payload: list[bytes],
    limits: PushLimits,
) -> PushResult:
    """Read and apply the body in `payload` (taken out of it, so that it is freed once its
    records are read). A refusal raises an ApiError that knows how many records the push held;
    an unexpected failure raises InternalFailure, caused by what failed."""
    report = Report()
    received = 0
    try:
        split = split_body(payload.pop(), limits.records)
        received = len(split)
        batch, recognition = _read_batch(engine, push, split, limits.per_record, report)
        del split  # the body: the batch holds the records now
        tenant, endpoint = push.tenant, push.endpoint
        with write_transaction(engine, tenant.tenant_id) as conn:
            recognizer = endpoint.recognizer
            if recognition and recognizer and not recognizer.holds(conn, tenant, recognition):
                batch = _read_recognised(push, batch, report)
            counts = endpoint.apply(conn, tenant, batch, report, push.received_at)
            result = PushResult(
                push.request_id,
                received,
                counts.created,
                counts.updated,
                counts.deleted,
                counts.unchanged,
                report.warnings,
            )
            logged = _logged(push, 200, received, counts=counts, warnings=report.warnings)
            write_push_log(conn, [push_log_row(tenant.tenant_id, logged)])
        return result
    except (PoolTimeout, OperationalError):
        # No connection came free in time, or the database is busy or away: nothing changed,
        # and a retry may well succeed (SPEC 3: never left hanging, never a 500 for that).
        busy = ServiceUnavailable(BUSY_MESSAGE)
        busy.received = received
        raise busy from None
    except ApiError as error:
        error.received = error.received or received
        raise
    except Exception as failure:
        raise InternalFailure(received) from failure


def _read_batch(
    engine: Engine, push: PushRequest, split: SplitBody, limits: RecordLimits, report: Report
) -> tuple[PushBatch, Recognition | None]:
    """The valid batch of a split body, and what was recognised in it (None for nothing);
    ValidationFailed for any invalid record."""
    endpoint, tenant = push.endpoint, push.tenant
    recognition = None
    if endpoint.recognizer is not None and split.raws is not None:
        recognition = endpoint.recognizer.find(engine, tenant, split.raws)
    known = {} if recognition is None else recognition.known
    items = read_records(endpoint.schema, endpoint.reader, split, known, limits, report)
    if endpoint.warnings is not None:
        warn_records(items, endpoint.warnings, tenant.platform, report)
    if report.errors:
        raise ValidationFailed(report.errors, report.warnings, len(items))
    records = [item for item in items if item is not None]
    digests = None if recognition is None else recognition.raw_digests
    batch = PushBatch(records, list(range(len(records))), digests)
    return batch, (recognition if known else None)


def _read_recognised(push: PushRequest, batch: PushBatch, report: Report) -> PushBatch:
    """The batch with its recognised records read in full: contacts were written since they
    were recognised (a concurrent push of the tenant), so their rows may no longer be as found."""
    endpoint = push.endpoint
    records: list[Record | Recognised] = []
    for index, item in zip(batch.indexes, batch.records, strict=True):
        if isinstance(item, Recognised):
            item = read_again(endpoint.schema, endpoint.reader, item.raw, index, report)
            if endpoint.warnings is not None:
                endpoint.warnings(item, index, push.tenant.platform, report)
        records.append(item)
    if report.errors:  # cannot happen: these bytes were stored once, valid and without warnings
        raise ValidationFailed(report.errors, report.warnings, len(records))
    return PushBatch(records, batch.indexes, batch.raw_digests)


def _logged(
    push: PushRequest,
    status: int,
    received: int,
    *,
    counts: Counts | None = None,
    warnings: list[Issue] | None = None,
    errors: list[Issue] | None = None,
    error: str | None = None,
    message: str | None = None,
) -> LoggedPush:
    return LoggedPush(
        request_id=push.request_id,
        endpoint=push.endpoint.name,
        key_id=push.key_id,
        received_at=push.received_at,
        status=status,
        duration_ms=push.elapsed_ms(),
        received=received,
        counts=counts or Counts(),
        warnings=warnings or [],
        errors=errors or [],
        error=error,
        message=message,
    )


def log_refusal(writer: BackgroundWriter, push: PushRequest, error: ApiError) -> None:
    """Record a refused push in the push log (SPEC 3: every push of a known tenant), off the
    request: the answer never waits for the database's write lock (store/background.py)."""
    failed = error if isinstance(error, ValidationFailed) else None
    logged = _logged(
        push,
        error.status,
        error.received,
        warnings=failed.warnings if failed else [],
        errors=failed.issues if failed else [],
        error=error.code,
        message=None if error.status == 500 else error.message,
    )
    writer.log_push(push.tenant.tenant_id, logged)
