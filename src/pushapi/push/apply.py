"""Applying a push (SPEC 3, 3.2): recognise what is stored already, read and check every record,
apply the valid batch in one transaction together with its push-log entry, and answer.

    [Idempotency-Key: claim the key -> replay, 409 or 422]
      split the body -> recognise (one read) -> read the records (no database)
      -> write transaction: apply (a dry run: in a savepoint rolled back), push log,
         the key's answer -> PushAnswer

A push refused on the way is logged too, without its records (`log_refusal`).
"""

import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from pushapi.config import Settings
from pushapi.errors import (
    ApiError,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InternalFailure,
    Issue,
    NotSupportedForPlatform,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from pushapi.push.endpoints import PushEndpoint
from pushapi.push.options import DEFAULT, PushOptions
from pushapi.push.read import (
    RecordLimits,
    SplitBody,
    read_again,
    read_records,
    split_body,
    warn_records,
)
from pushapi.schema.fields import Record, Report
from pushapi.store import idempotency
from pushapi.store.background import BackgroundWriter
from pushapi.store.changes import append_changes
from pushapi.store.counts import Counts
from pushapi.store.dialect import pipelined
from pushapi.store.documents import dump_document
from pushapi.store.engine import WriteLockBusy, write_transaction
from pushapi.store.idempotency import KeptAnswer
from pushapi.store.pushlog import LoggedPush, push_log_row, write_push_log
from pushapi.store.records import PushBatch, Recognised, Recognition
from pushapi.store.tenants import key_in_force
from pushapi.tenants import Tenant

# Pushes of at most this many records are read inside their write transaction (one transaction
# a push); larger ones are read before it, so that the tenant's write lock is held only while
# they write (docs/architecture.md, "The path of one push").
SMALL_PUSH = 20
BUSY_MESSAGE = "the database is busy or cannot be reached; nothing was changed; retry shortly"


class WouldWait(Exception):
    """run_push(wait=False) did nothing: the push is not small, or SQLite's write lock is
    taken. Run it where it may wait."""


@dataclass(frozen=True, slots=True)
class PushRequest:
    """One push request: to which endpoint, for which tenant, with which key, when."""

    request_id: str
    endpoint: PushEndpoint
    tenant: Tenant
    key_id: str
    received_at: datetime
    started: float  # time.perf_counter() when it arrived
    options: PushOptions = DEFAULT

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


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """A push sent with an Idempotency-Key (SPEC 3.2), and what makes it the same request."""

    key: str
    fingerprint: str  # push/options.request_fingerprint
    ttl: timedelta


class PushResult(msgspec.Struct, rename="camel"):
    """The answer to an accepted push (SPEC 3, 3.2): received = created + updated + deleted +
    unchanged + rejected; `errors` only with ?onError=skip, `dryRun` only in a dry run."""

    request_id: str
    received: int
    created: int
    updated: int
    deleted: int
    unchanged: int
    rejected: int
    warnings: list[Issue]
    errors: list[Issue] | msgspec.UnsetType = msgspec.UNSET
    dry_run: bool | msgspec.UnsetType = msgspec.UNSET


@dataclass(frozen=True, slots=True)
class PushAnswer:
    """What a push answers: its result, encoded; or, replaying an Idempotency-Key, the answer
    kept for it (`result` None)."""

    body: bytes
    result: PushResult | None = None
    replayed: KeptAnswer | None = None
    status: int = 200


@dataclass(slots=True)
class _Batch:
    """The records of a push to apply, and what reading them found besides."""

    batch: PushBatch
    recognition: Recognition | None
    rejected: int = 0  # invalid records left out (onError=skip)
    errors: list[Issue] = field(default_factory=list)


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
    keyed: KeyedRequest | None = None,
    wait: bool = True,
) -> PushAnswer:
    """Read and apply the body in `payload` (taken out of it, so that it is freed once its
    records are read). A refusal raises an ApiError that knows how many records the push held;
    an unexpected failure raises InternalFailure, caused by what failed. With `keyed`, the key
    is claimed first, and the answer kept when it is a 200 or a 400 (SPEC 3.2).

    With `wait` False (SQLite, without `keyed`), a small push runs only if the database's write
    lock is free now; otherwise, and for a larger push, WouldWait, having changed nothing."""
    if keyed is None or push.options.dry_run:  # a dry run ignores the key
        return _run(engine, push, payload, limits, None, wait)
    assert wait, "claiming a key may wait"
    tenant_id = push.tenant.tenant_id
    try:
        found = idempotency.claim(
            engine,
            tenant_id,
            keyed.key,
            keyed.fingerprint,
            push.request_id,
            datetime.now(UTC),
            keyed.ttl,
        )
    except (PoolTimeout, OperationalError):
        raise ServiceUnavailable(BUSY_MESSAGE) from None
    if found.outcome == "replay":
        assert found.kept is not None
        return PushAnswer(found.kept.body, replayed=found.kept, status=found.kept.status)
    if found.outcome == "in_use":
        raise IdempotencyKeyInUse(found.retry_after)
    if found.outcome == "reused":
        raise IdempotencyKeyReused()
    try:
        return _run(engine, push, payload, limits, keyed, True)
    except ApiError as error:
        if error.status == 400:  # the push's own answer: kept, like a 200
            _keep_quietly(engine, push, keyed, error)
        elif not isinstance(error, IdempotencyKeyInUse):  # (its claim is another request's)
            _release_quietly(engine, push, keyed)
        raise
    except BaseException:
        _release_quietly(engine, push, keyed)
        raise


def _keep_quietly(engine: Engine, push: PushRequest, keyed: KeyedRequest, error: ApiError) -> None:
    """Keep a 400 for the key; if the database fails now, the claim lapses with its lease."""
    tenant_id = push.tenant.tenant_id
    body = error.encoded(push.request_id)
    with contextlib.suppress(PoolTimeout, OperationalError):
        idempotency.complete_alone(engine, tenant_id, keyed.key, push.request_id, 400, body)


def _release_quietly(engine: Engine, push: PushRequest, keyed: KeyedRequest) -> None:
    """Give up the key's claim; if the database fails now, the claim lapses with its lease."""
    with contextlib.suppress(PoolTimeout, OperationalError):
        idempotency.release(engine, push.tenant.tenant_id, keyed.key, push.request_id)


def _run(
    engine: Engine,
    push: PushRequest,
    payload: list[bytes],
    limits: PushLimits,
    keyed: KeyedRequest | None,
    wait: bool,
) -> PushAnswer:
    report = Report()
    received = 0
    tenant_id = push.tenant.tenant_id
    try:
        split = split_body(payload.pop(), limits.records)
        received = len(split)
        if received <= SMALL_PUSH:
            # One transaction: the key, what is stored already, and the write.
            with write_transaction(engine, tenant_id, wait) as conn:
                _check_key(conn, push)
                recognition = _recognise(conn, push, split, versioned=False)
                read = _read_batch(push, split, recognition, limits.per_record, report)
                return _apply(conn, push, read, report, received, keyed)
        if not wait:
            raise WouldWait()
        # Records are read before the write transaction, so that a large push holds the tenant's
        # write lock only while it writes; what was recognised is trusted only while it holds.
        with engine.connect() as conn:
            recognition = _recognise(conn, push, split, versioned=True)
        read = _read_batch(push, split, recognition, limits.per_record, report)
        del split  # the body: the batch holds the records now
        with write_transaction(engine, tenant_id) as conn:
            _check_key(conn, push)
            recognizer, recognition = push.endpoint.recognizer, read.recognition
            if recognition and recognizer and not recognizer.holds(conn, push.tenant, recognition):
                read.batch = _read_recognised(push, read.batch, report)
            return _apply(conn, push, read, report, received, keyed)
    except (WouldWait, WriteLockBusy):
        raise WouldWait() from None
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


def _check_key(conn: Connection, push: PushRequest) -> None:
    """401 when the push's key was revoked (or deleted with its tenant) since it was checked."""
    if not key_in_force(conn, push.tenant.tenant_id, push.key_id):
        raise Unauthorized("unknown or revoked API key")


def _apply(
    conn: Connection,
    push: PushRequest,
    read: _Batch,
    report: Report,
    received: int,
    keyed: KeyedRequest | None,
) -> PushAnswer:
    """Apply the read batch, log the push and keep the key's answer, inside the write
    transaction `conn`; the answer."""
    tenant, endpoint, options = push.tenant, push.endpoint, push.options
    if options.dry_run:
        # Everything the push would do, then undone: the counts and warnings it would give
        # now, and nothing changed (SPEC 3.2).
        savepoint = conn.begin_nested()
        counts = endpoint.apply(conn, tenant, read.batch, report, push.received_at)
        savepoint.rollback()
    else:
        counts = endpoint.apply(conn, tenant, read.batch, report, push.received_at)
    result = PushResult(
        push.request_id,
        received,
        counts.created,
        counts.updated,
        counts.deleted,
        counts.unchanged,
        read.rejected,
        report.warnings,
        read.errors if options.skip_invalid else msgspec.UNSET,
        True if options.dry_run else msgspec.UNSET,
    )
    body = dump_document(result)
    logged = _logged(
        push,
        200,
        received,
        counts=counts,
        rejected=read.rejected,
        warnings=report.warnings,
        errors=read.errors,
    )
    # The change events, the push log and its day counts are sent together (PostgreSQL).
    with pipelined(conn):
        if not options.dry_run:
            append_changes(conn, tenant.tenant_id, push.request_id, counts)
        write_push_log(conn, [push_log_row(tenant.tenant_id, logged)])
    if keyed is not None and not idempotency.complete(
        conn, tenant.tenant_id, keyed.key, push.request_id, 200, body
    ):
        # The claim lapsed and another request with the key took it over: that one applies
        # the push; this one is undone (applied once at most).
        raise IdempotencyKeyInUse(1)
    return PushAnswer(body, result)


def _recognise(
    conn: Connection, push: PushRequest, split: SplitBody, versioned: bool
) -> Recognition | None:
    """The records of the body stored already byte for byte, for an endpoint that recognises;
    `versioned` to check later, in the write transaction, that they are still as found."""
    recognizer = push.endpoint.recognizer
    if recognizer is None or split.raws is None:
        return None
    return recognizer.find(conn, push.tenant, split.raws, versioned)


def _read_batch(
    push: PushRequest,
    split: SplitBody,
    recognition: Recognition | None,
    limits: RecordLimits,
    report: Report,
) -> _Batch:
    """The valid batch of a split body, and what was recognised in it (None for nothing).
    An invalid record: ValidationFailed, or with onError=skip, the record left out."""
    endpoint, tenant = push.endpoint, push.tenant
    known = {} if recognition is None else recognition.known
    items = read_records(endpoint.schema, endpoint.reader, split, known, limits, report)
    if endpoint.warnings is not None:
        warn_records(items, endpoint.warnings, tenant.platform, report)
    failed: set[int] = set()
    if report.errors:
        if not push.options.skip_invalid:
            raise ValidationFailed(report.errors, report.warnings, len(items))
        failed = {issue.index for issue in report.errors}
    indexes = [i for i, item in enumerate(items) if item is not None and i not in failed]
    records = [items[i] for i in indexes]
    digests = None if recognition is None else recognition.raw_digests
    batch = PushBatch(records, indexes, digests)  # type: ignore[arg-type]
    return _Batch(batch, recognition if known else None, len(failed), report.errors)


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
    rejected: int = 0,
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
        rejected=rejected,
        dry_run=push.options.dry_run,
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
