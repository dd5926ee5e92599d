"""Reading a push body (SPEC 3, 3.1): the body split into records, each record read against its
field table, and every error and warning found, by record index and field path. No database.

The usual record is read by the compiled reader (schema/compiled.py); whatever it declines, and
any body msgspec does not take, is read by the general path (`load_pushed`, `parse_object`), which
decides and explains. Fast paths accelerate; they never judge.
"""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import msgspec
from msgspec import Raw

from pushapi.errors import InvalidBody, PayloadTooLarge
from pushapi.schema.compiled import CompiledReader
from pushapi.schema.fields import (
    Field,
    ObjectSchema,
    Pairs,
    Record,
    Report,
    object_pairs,
    parse_object,
)
from pushapi.schema.finishing import count_entries
from pushapi.schema.values import Kind
from pushapi.store.records import Recognised

# The data-quality rules of one valid record: (record, index, platform, report).
RecordWarnings = Callable[[Record, int, str, Report], None]
# A record larger than this has its collections counted before it is read, so that one record
# of millions of entries is refused without building them (a record under it cannot hold more
# entries than a few times the limits allow).
LARGE_RECORD = 64 * 1024
_TOP_LEVEL = msgspec.json.Decoder(dict[str, Raw])


@dataclass(frozen=True, slots=True)
class RecordLimits:
    """How many entries one collection of a record may hold (PUSHAPI_MAX_COLLECTION_ITEMS,
    PUSHAPI_MAX_LIST_IDS): beyond them the record is invalid (400, naming the field)."""

    collection_items: int
    list_ids: int

    def of(self, spec: Field) -> tuple[int, str] | None:
        """The limit of a field and the setting that sets it; None for a field of one value."""
        if spec.kind is Kind.OBJECT_LIST:
            return self.collection_items, "PUSHAPI_MAX_COLLECTION_ITEMS"
        if spec.kind is Kind.ID_LIST:
            return self.list_ids, "PUSHAPI_MAX_LIST_IDS"
        return None


def _too_many(spec: Field, count: int, limits: RecordLimits, index: int, report: Report) -> bool:
    limit = limits.of(spec)
    if limit is None or count <= limit[0]:
        return False
    report.error(index, spec.name, f"expected at most {limit[0]} entries ({limit[1]}), got {count}")
    return True


def check_sizes(schema: ObjectSchema, record: Record, limits: RecordLimits, index: int,
                report: Report) -> None:  # fmt: skip
    """Report each collection of a read record that holds more entries than its limit."""
    for spec in schema.collections:
        value = record[spec.name]
        if value is not None:
            _too_many(spec, len(value), limits, index, report)


def counted_too_large(schema: ObjectSchema, raw: Raw, limits: RecordLimits, index: int,
                      report: Report) -> bool:  # fmt: skip
    """For a large record, before it is read: whether a collection holds more entries than its
    limit (reported). Property names match in any letter case, as when the record is read."""
    try:
        properties = _TOP_LEVEL.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return False  # not an object of properties: reading it says what is wrong
    too_large = False
    for name, value in properties.items():
        spec = schema.lookup.get(name) or schema.lookup.get(name.lower())
        if spec is None or limits.of(spec) is None:
            continue
        text = memoryview(value)
        if text.nbytes == 0 or text[0] != ord("["):
            continue
        limit, _ = limits.of(spec)  # type: ignore[misc]
        array = bytes(text)
        if array.count(b",") < limit:
            continue  # fewer commas than the limit: fewer entries too
        too_large |= _too_many(spec, count_entries(array), limits, index, report)
    return too_large


OPEN_BRACE = ord("{")
# Splits a body into its records without building them; every byte is still checked as JSON.
_RECORD_SPLITTER = msgspec.json.Decoder(list[Raw])
# What the fast decoders raise on input they do not take; load_pushed then decides and explains.
_NOT_TAKEN = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)


@dataclass(slots=True)
class SplitBody:
    """A body known to be a JSON array of at most the allowed number of objects."""

    body: bytes
    raws: list[Raw] | None  # each record's exact bytes, when msgspec split the body
    loaded: list[Any] | None  # else each record as load_pushed read it

    def __len__(self) -> int:
        records = self.raws if self.raws is not None else self.loaded
        assert records is not None
        return len(records)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_pushed(text: bytes) -> Any:
    """JSON as pushed: decimals as Decimal, NaN and Infinity refused, and an object that names a
    property twice kept as its Pairs (parse_object warns about them)."""
    return json.loads(
        text, parse_float=Decimal, parse_constant=_reject_constant, object_pairs_hook=object_pairs
    )


def _load_body(body: bytes, max_records: int) -> list[Any]:
    """The body as a JSON array of objects (SPEC 3: otherwise 400, or 413 when too many)."""
    try:
        data = load_pushed(body)
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
    _check_records(data, max_records, lambda record: isinstance(record, dict | Pairs))
    return data


def _check_records(records: list[Any], max_records: int, is_object: Callable[[Any], bool]) -> None:
    if len(records) > max_records:
        raise PayloadTooLarge(
            f"{len(records)} records exceed the limit of {max_records} records per push"
        )
    for index, record in enumerate(records):
        if not is_object(record):
            raise InvalidBody(f"body must be a JSON array of objects; record {index} is not one")


def split_body(body: bytes, max_records: int) -> SplitBody:
    """The records of a body; InvalidBody or PayloadTooLarge for a body that is not a JSON
    array of at most `max_records` objects."""
    try:
        raws = _RECORD_SPLITTER.decode(body)
    except _NOT_TAKEN:
        # Not an array as msgspec takes it (a lone surrogate escape, say): load_pushed decides.
        return SplitBody(body, None, _load_body(body, max_records))
    try:
        _check_records(raws, max_records, lambda raw: memoryview(raw)[0] == OPEN_BRACE)
    except (PayloadTooLarge, InvalidBody):
        # msgspec splits bodies load_pushed refuses (an integer of 5,000 digits): load_pushed
        # decides which answer the body gets.
        _load_body(body, max_records)
        raise
    return SplitBody(body, raws, None)


def read_records(
    schema: ObjectSchema,
    reader: CompiledReader,
    split: SplitBody,
    known: Mapping[int, Recognised],
    limits: RecordLimits,
    report: Report,
) -> list[Record | Recognised | None]:
    """Each record of the body, read against `schema`, with its errors and warnings in `report`;
    a record in `known` (recognised as stored byte for byte) is not read at all, a large record
    with a collection over its limit neither (None)."""
    if split.raws is None:
        assert split.loaded is not None
        records: list[Record | Recognised | None] = []
        for index, loaded in enumerate(split.loaded):
            record = parse_object(schema, loaded, index, "", report)
            if record is not None:
                check_sizes(schema, record, limits, index, report)
            records.append(record)
        return records
    compiled: CompiledReader | Literal[False] | None = False  # False: not decided yet
    items: list[Record | Recognised | None] = []
    try:
        for index, raw in enumerate(split.raws):
            item: Record | Recognised | None = known.get(index)
            if item is None:
                if compiled is False:
                    # An escaped NUL must be refused with its field's name: parse_object reads
                    # such a body. (Looked for once a record is to be read: a push whose records
                    # were all recognised is not scanned.)
                    compiled = None if b"\\u0000" in split.body else reader
                if len(raw) > LARGE_RECORD and counted_too_large(
                    schema, raw, limits, index, report
                ):
                    items.append(None)
                    continue
                if compiled is not None:
                    item = compiled.read(raw)
                if item is None:
                    item = parse_object(schema, decode_record(raw), index, "", report)
                if item is not None:
                    check_sizes(schema, item, limits, index, report)
            items.append(item)
    except (ValueError, RecursionError, ArithmeticError):
        _load_body(split.body, len(split.raws))  # raises the exact InvalidBody
        raise
    return items


def read_again(
    schema: ObjectSchema, reader: CompiledReader, raw: Raw, index: int, report: Report
) -> Record:
    """A record recognised before, read in full after all (its bytes are a valid record)."""
    if b"\\u0000" not in memoryview(raw).tobytes():
        record = reader.read(raw)
        if record is not None:
            return record
    parsed = parse_object(schema, decode_record(raw), index, "", report)
    assert parsed is not None  # a JSON object: it was split as one
    return parsed


def decode_record(raw: Raw) -> Any:
    """One record of a split body as load_pushed reads it (ValueError when it is not JSON).

    Records the compiled reader declines come here: load_pushed, not msgspec, so that what is
    accepted or refused (nesting depth, integers of thousands of digits, ...) is the general
    path's.
    """
    return load_pushed(memoryview(raw).tobytes())


def warn_records(
    items: list[Record | Recognised | None],
    warnings: RecordWarnings,
    platform: str,
    report: Report,
) -> None:
    """Add the data-quality warnings of every record read without an error (a recognised record
    has none: its bytes were stored without a warning)."""
    failed = {issue.index for issue in report.errors}
    for index, item in enumerate(items):
        if item is not None and not isinstance(item, Recognised) and index not in failed:
            warnings(item, index, platform, report)
