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
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from pushapi.schema.fields import (
    Field,
    Need,
    ObjectSchema,
    Record,
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
    millis_zoned,
    parse_datetime,
)

try:  # the same finishing, built as native code at install (schema/native.pyx)
    from pushapi.schema import native
except ImportError:  # pragma: no cover - installed without a C compiler: Python finishes
    native = None  # type: ignore[assignment]
NATIVE = native is not None  # whether the value rules run as native code here

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


class _Declined(Exception):
    """The record is not in the form this reader takes; parse_object reads it."""


def _number(spec: Field, value: Any) -> Any:
    if type(value) is msgspec.Raw:
        text = bytes(value)
        if text == b"null":
            return None
        if text[0] not in _NUMBER_START:
            raise _Declined  # a string, an array, ...: parse_object explains or converts
        if len(text) <= _SHORT_NUMBER and b"e" not in text and b"E" not in text:
            # The usual case, with no digit limit to check: as json.loads reads it, an integer
            # literal is an int and anything else a Decimal (an int becomes Decimal(int)).
            value = Decimal(text.decode()) if b"." in text else Decimal(int(text))
            if (spec.minimum is not None and value < spec.minimum) or (
                spec.maximum is not None and value > spec.maximum
            ):
                raise _Declined
            return value
        try:
            fraction = b"." in text or b"e" in text or b"E" in text
            value = Decimal(text.decode()) if fraction else int(text)
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


def _datetime(value: str) -> str | None:
    normalised = cached_datetime(value)
    if normalised is not None:
        return normalised
    # The usual form first, without parse_datetime's checks of type and blankness.
    normalised = millis_zoned(value)
    if normalised is not None:
        remember_datetime(value, normalised)
        return normalised
    try:
        normalised = parse_datetime(value)
    except ValueProblem:
        raise _Declined from None
    if type(normalised) is NaiveDateTime:
        raise _Declined  # a warning: parse_object gives it
    if normalised is not None:
        remember_datetime(value, normalised)
    return normalised


def _no_blank_ids(ids: list[str]) -> list[str]:
    if any(not item or item.isspace() for item in ids):
        raise _Declined
    return ids


def _finisher(schema: ObjectSchema) -> Callable[[msgspec.Struct], Record]:
    """A function that finishes reading one struct of `schema` into its record.

    Generated from the field table, one statement per field: a loop over the table costs more
    per value (a contact has about a hundred); with the loop, the reader took 21.8 ms per 1,000
    canonical contacts whose DateTimes were cached, generated 16.0 ms.
    """
    lines = [f"def finish_{schema.name}(obj):"]
    scope: dict[str, Any] = {
        "Declined": _Declined,
        "datetime": _datetime,
        "number": _number,
        "no_blank_ids": _no_blank_ids,
    }
    for position, spec in enumerate(schema.fields):
        v = f"v{position}"
        lines.append(f"    {v} = obj.{spec.name}")
        kind = spec.kind
        if kind is Kind.STRING or kind is Kind.ID:
            # SPEC 3.1: blank means no value.
            lines.append(f"    if {v} is not None and (not {v} or {v}.isspace()): {v} = None")
        elif kind is Kind.DATETIME:
            lines.append(f"    if {v} is not None: {v} = datetime({v})")
        elif kind is Kind.INT or kind is Kind.DECIMAL:
            scope[f"field{position}"] = spec
            lines.append(f"    {v} = number(field{position}, {v})")
        elif kind is Kind.ID_LIST:
            lines.append(f"    if {v} is not None: {v} = no_blank_ids({v})")
        elif kind is Kind.OBJECT:
            assert spec.item is not None
            scope[f"finish{position}"] = _finisher(spec.item)
            lines.append(f"    if {v} is not None: {v} = finish{position}({v})")
        elif kind is Kind.OBJECT_LIST:
            assert spec.item is not None
            scope[f"finish{position}"] = _finisher(spec.item)
            lines.append(f"    if {v} is not None: {v} = [finish{position}(x) for x in {v}]")
    names = {spec.name: f"v{position}" for position, spec in enumerate(schema.fields)}
    deletion = names.get(schema.deletion_field or "")
    for spec in schema.needed:
        condition = f"{names[spec.name]} is None"
        if spec.need is Need.REQUIRED_UNLESS_DELETED and deletion is not None:
            condition += f" and {deletion} is not True"
        lines.append(f"    if {condition}: raise Declined")
    items = ", ".join(f"{spec.name!r}: {names[spec.name]}" for spec in schema.fields)
    lines.append(f"    record = {{{items}}}")
    for number, rule in enumerate(schema.rules):
        scope[f"rule{number}"] = rule.check
        lines.append(f"    for _ in rule{number}(record): raise Declined")
    lines.append("    return record")
    exec("\n".join(lines), scope)  # the source is built above from the field table only
    finish: Callable[[msgspec.Struct], Record] = scope[f"finish_{schema.name}"]
    return finish


_PLAN_KINDS = {
    Kind.STRING: "string",
    Kind.ID: "string",
    Kind.BOOL: "bool",
    Kind.DATETIME: "datetime",
    Kind.INT: "int",
    Kind.DECIMAL: "decimal",
    Kind.ID_LIST: "id_list",
    Kind.OBJECT: "object",
    Kind.OBJECT_LIST: "object_list",
}


def _native_finisher(schema: ObjectSchema) -> Callable[[msgspec.Struct], Record]:
    """The native twin of `_finisher(schema)`, from the same field table (schema/native.pyx)."""
    assert native is not None
    fields = []
    for spec in schema.fields:
        extra: Any = None
        if spec.kind is Kind.OBJECT or spec.kind is Kind.OBJECT_LIST:
            assert spec.item is not None
            extra = _native_finisher(spec.item)
        elif spec.kind is Kind.INT or spec.kind is Kind.DECIMAL:
            extra = spec
        fields.append((spec.name, native.KINDS[_PLAN_KINDS[spec.kind]], extra))
    positions = {spec.name: position for position, spec in enumerate(schema.fields)}
    deletion = positions.get(schema.deletion_field or "", -1)
    needed = tuple(
        (positions[spec.name], spec.need is Need.REQUIRED_UNLESS_DELETED and deletion >= 0)
        for spec in schema.needed
    )
    rules = tuple(rule.check for rule in schema.rules)
    return native.Finisher(
        tuple(fields), needed, deletion, rules, _Declined, _datetime, _number, Decimal
    )


class CompiledReader:
    """Reads the records of one kind of object from their exact bytes, or declines.

    The finishing runs as native code when the package was built with it (`use_native`), else
    as the Python functions generated above; both give the same answers.
    """

    def __init__(self, schema: ObjectSchema, use_native: bool = True) -> None:
        self._decoder = msgspec.json.Decoder(_struct(schema))
        self.native = use_native and native is not None
        self._finish = _native_finisher(schema) if self.native else _finisher(schema)

    def read(self, raw: msgspec.Raw) -> Record | None:
        """The record parse_object would read from these bytes without any issue, or None.

        The caller makes sure the bytes hold no escaped NUL (\\u0000), which must be refused.
        """
        try:
            return self._finish(self._decoder.decode(raw))
        except (msgspec.DecodeError, _Declined, RecursionError, ValueError, ArithmeticError):
            # ValueError: also msgspec.ValidationError, and UnicodeDecodeError for the UTF-8 of
            # a surrogate, which parse_object reads (and refuses with the field's name).
            return None
