"""The compiled reader: each object's field table turned into msgspec structs, so that a record
in the usual form (canonical property names, values of the expected JSON types) is read and
type-checked in C, and only the value rules that JSON types cannot express run in Python.

It is an accelerator, never a judge: it returns exactly the record `parse_object` would return for
the same bytes, or None, and then `parse_object` reads the record and decides, with its messages.
It declines whatever `parse_object` would answer with an error or a warning: other letter case or
unknown properties, strings where numbers or booleans belong, zoneless DateTimes, blank required
fields, broken rules. tests/test_compiled_reader.py checks that both agree on any record.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from pushapi.schema.fields import (
    Field,
    Need,
    ObjectSchema,
    Record,
    Rule,
    cached_datetime,
    remember_datetime,
)
from pushapi.schema.values import (
    ID_MAX_LENGTH,
    INT_MAX,
    INT_MIN,
    Kind,
    NaiveDateTime,
    ValueProblem,
    parse_datetime,
)

_NULL = msgspec.Raw(b"null")
_NUMBER_START = frozenset(b"-0123456789")
# A JSON number of at most this many characters and no exponent has at most 38 digits.
_SHORT_NUMBER = 38


def _field_type(spec: Field) -> tuple[Any, Any]:
    """The msgspec type of one field and its default when the property is absent."""
    kind = spec.kind
    if kind is Kind.STRING or kind is Kind.ID:
        return Annotated[str, msgspec.Meta(max_length=spec.length_limit)] | None, None
    if kind is Kind.BOOL:
        return bool | None, None
    if kind is Kind.INT:
        return int | None, None
    if kind is Kind.DATETIME:
        return str | None, None
    if kind is Kind.DECIMAL:
        # Kept as the exact JSON text: msgspec's Decimal would also take strings ("1_0", "NaN").
        return msgspec.Raw, _NULL
    if kind is Kind.ID_LIST:
        item = Annotated[str, msgspec.Meta(max_length=ID_MAX_LENGTH)]  # as parse_id_list
        return list[item] | None, None  # type: ignore[valid-type]
    assert spec.item is not None
    item_struct = _struct(spec.item)
    if kind is Kind.OBJECT:
        return item_struct | None, None
    return list[item_struct] | None, None  # type: ignore[valid-type]


def _struct(schema: ObjectSchema) -> type[msgspec.Struct]:
    fields = [(spec.name, *_field_type(spec)) for spec in schema.fields]
    return msgspec.defstruct(schema.name, fields, forbid_unknown_fields=True)


@dataclass(frozen=True)
class _Plan:
    """What is left to check of one object after msgspec has read it, field names by kind."""

    strings: tuple[str, ...]
    datetimes: tuple[str, ...]
    numbers: tuple[Field, ...]  # INT and DECIMAL: their ranges, by Field.parse_scalar
    id_lists: tuple[str, ...]
    objects: tuple[tuple[str, "_Plan"], ...]
    object_lists: tuple[tuple[str, "_Plan"], ...]
    needed: tuple[Field, ...]
    rules: tuple[Rule, ...]
    is_deletion: Callable[[Record], bool]

    @classmethod
    def of(cls, schema: ObjectSchema) -> "_Plan":
        def named(*kinds: Kind) -> tuple[str, ...]:
            return tuple(f.name for f in schema.fields if f.kind in kinds)

        def nested(kind: Kind) -> tuple[tuple[str, _Plan], ...]:
            return tuple(
                (f.name, cls.of(f.item)) for f in schema.fields if f.kind is kind and f.item
            )

        return cls(
            strings=named(Kind.STRING, Kind.ID),
            datetimes=named(Kind.DATETIME),
            numbers=tuple(f for f in schema.fields if f.kind in (Kind.INT, Kind.DECIMAL)),
            id_lists=named(Kind.ID_LIST),
            objects=nested(Kind.OBJECT),
            object_lists=nested(Kind.OBJECT_LIST),
            needed=schema.needed,
            rules=schema.rules,
            is_deletion=schema.is_deletion,
        )


class _Declined(Exception):
    """The record is not in the form this reader takes; parse_object reads it."""


def _number(spec: Field, value: Any) -> Any:
    if type(value) is msgspec.Raw:
        text = bytes(value)
        if text == b"null":
            return None
        if text[0] not in _NUMBER_START:
            raise _Declined  # a string, an array, ...: parse_object explains or converts
        if len(text) <= _SHORT_NUMBER and not any(c in text for c in b"eE"):
            # The usual case, with no digit limit to check: as json.loads reads it, an integer
            # literal is an int and anything else a Decimal (an int becomes Decimal(int)).
            value = Decimal(text.decode()) if b"." in text else Decimal(int(text))
            if (spec.minimum is not None and value < spec.minimum) or (
                spec.maximum is not None and value > spec.maximum
            ):
                raise _Declined
            return value
        try:
            value = Decimal(text.decode()) if any(c in text for c in b".eE") else int(text)
        except ValueError:
            raise _Declined from None
    elif value is None:
        return None
    elif type(value) is int and INT_MIN <= value <= INT_MAX and spec.minimum is None:
        return value
    try:
        return spec.parse_scalar(value)
    except ValueProblem:
        raise _Declined from None


def _finish(obj: msgspec.Struct, plan: _Plan) -> Record:
    record = msgspec.structs.asdict(obj)
    for name in plan.strings:
        value = record[name]
        if value is not None and (not value or value.isspace()):
            record[name] = None  # SPEC 3.1: blank means no value
    for name in plan.datetimes:
        value = record[name]
        if value is None:
            continue
        normalised = cached_datetime(value)
        if normalised is None:
            try:
                normalised = parse_datetime(value)
            except ValueProblem:
                raise _Declined from None
            if type(normalised) is NaiveDateTime:
                raise _Declined  # a warning: parse_object gives it
            if normalised is not None:
                remember_datetime(value, normalised)
        record[name] = normalised
    for spec in plan.numbers:
        record[spec.name] = _number(spec, record[spec.name])
    for name in plan.id_lists:
        ids = record[name]
        if ids is not None and any(not item or item.isspace() for item in ids):
            raise _Declined
    for name, item_plan in plan.objects:
        if record[name] is not None:
            record[name] = _finish(record[name], item_plan)
    for name, item_plan in plan.object_lists:
        if record[name] is not None:
            record[name] = [_finish(item, item_plan) for item in record[name]]
    if plan.needed:
        deleting = plan.is_deletion(record)
        for spec in plan.needed:
            if record[spec.name] is None and not (
                spec.need is Need.REQUIRED_UNLESS_DELETED and deleting
            ):
                raise _Declined
    for rule in plan.rules:
        for _problem in rule.check(record):
            raise _Declined
    return record


class CompiledReader:
    """Reads the records of one kind of object from their exact bytes, or declines."""

    def __init__(self, schema: ObjectSchema) -> None:
        self._decoder = msgspec.json.Decoder(_struct(schema))
        self._plan = _Plan.of(schema)

    def read(self, raw: msgspec.Raw) -> Record | None:
        """The record parse_object would read from these bytes without any issue, or None.

        The caller makes sure the bytes hold no escaped NUL (\\u0000), which must be refused.
        """
        try:
            return _finish(self._decoder.decode(raw), self._plan)
        except (msgspec.ValidationError, msgspec.DecodeError, _Declined, RecursionError):
            return None
