"""The compiled reader: each object's field table turned into msgspec structs, so that a record
in the usual form (canonical property names, values of the expected JSON types) is read and
type-checked in C, and only the value rules that JSON types cannot express run after
(schema/finishing.py).

It is an accelerator, never a judge: it returns exactly the record `parse_object` would return for
the same bytes, or None, and then `parse_object` reads the record and decides, with its messages.
It declines whatever `parse_object` would answer with an error or a warning: other letter case or
unknown properties, strings where numbers or booleans belong, zoneless DateTimes, blank required
fields, broken rules. tests/test_compiled_reader.py checks that both agree on any record.
"""

from decimal import Decimal
from functools import partial
from types import ModuleType
from typing import Annotated, Any

import msgspec

from pushapi.schema import finishing
from pushapi.schema.fields import (
    Field,
    Need,
    ObjectSchema,
    Record,
    cached_datetime,
    remember_datetime,
)
from pushapi.schema.finishing import Declined
from pushapi.schema.values import (
    ID_MAX_LENGTH,
    INT_MAX,
    INT_MIN,
    Kind,
    NaiveDateTime,
    ValueProblem,
    fast_millis_zoned,
    parse_datetime,
)

try:
    from pushapi.schema import native
except ImportError:  # pragma: no cover - installed without a C compiler
    native = None  # type: ignore[assignment]
# Whether the value rules run as native code here: the hand-written DateTime rule
# (schema/native.pyx) and the finishing compiled from its Python source.
NATIVE = native is not None and not (finishing.__file__ or "").endswith(".py")


def _field(spec: Field, build: "_Builder") -> tuple[Any, Any, finishing.Step | None]:
    """One field as msgspec reads it and as the finishing completes it: (type, default when
    absent, Step; None when msgspec's checks are all)."""
    module = build.module
    absent = module.ABSENT  # a field left out: told apart from an explicit null, for the Tally
    kind = spec.kind
    if kind is Kind.STRING or kind is Kind.ID:
        text = Annotated[str, msgspec.Meta(max_length=spec.length_limit)]
        return text | None, absent, module.Text()
    if kind is Kind.BOOL:
        return bool | None, absent, None
    if kind is Kind.INT:
        # SPEC 3.1: the 32-bit range of the reference, and the field's own minimum.
        low = INT_MIN if spec.minimum is None else max(INT_MIN, int(spec.minimum))
        high = INT_MAX if spec.maximum is None else min(INT_MAX, int(spec.maximum))
        return Annotated[int, msgspec.Meta(ge=low, le=high)] | None, absent, None
    if kind is Kind.DATETIME:
        return str | None, absent, module.DateTime(fast_millis_zoned, _datetime)
    if kind is Kind.DECIMAL:
        # Kept as the exact JSON text: msgspec's Decimal would also take strings ("1_0", "NaN").
        general = partial(_general_decimal, spec)
        step = module.DecimalNumber(spec.minimum, spec.maximum, general)
        return msgspec.Raw, module.ABSENT_NUMBER, step
    if kind is Kind.ID_LIST:
        item = Annotated[str, msgspec.Meta(max_length=ID_MAX_LENGTH)]  # as parse_id_list
        return list[item] | None, absent, module.IdList()  # type: ignore[valid-type]
    assert spec.item is not None
    item_struct, finisher = build(spec.item)
    if kind is Kind.OBJECT:
        return item_struct | None, absent, module.Nested(finisher)
    items = list[item_struct]  # type: ignore[valid-type]
    return items | None, absent, module.NestedList(finisher)


def _datetime(value: str) -> str | None:
    """A DateTime not in the usual form (or not taken by the fast rule), as parse_object reads
    it; declined when parse_object would refuse it or warn."""
    normalised = cached_datetime(value)
    if normalised is not None:
        return normalised
    try:
        normalised = parse_datetime(value)
    except ValueProblem:
        raise Declined from None
    if type(normalised) is NaiveDateTime:
        raise Declined  # a warning: parse_object gives it
    if normalised is not None:
        remember_datetime(value, normalised)
    return normalised


def _general_decimal(spec: Field, text: bytes) -> Any:
    """A decimal with many digits or an exponent, as parse_object reads it, or declined."""
    try:
        fraction = b"." in text or b"e" in text or b"E" in text
        value = Decimal(text.decode()) if fraction else int(text)
        return spec.parse_scalar(value)
    except (ValueError, ValueProblem, ArithmeticError):
        raise Declined from None


class _Builder:
    """Builds the struct and the Finisher of an object and of every object nested in it."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.tally = module.Tally()

    def __call__(self, schema: ObjectSchema) -> tuple[type[msgspec.Struct], Any]:
        fields = [(spec, *_field(spec, self)) for spec in schema.fields]
        struct = msgspec.defstruct(
            schema.name,
            [(spec.name, kind_type, default) for spec, kind_type, default, _ in fields],
            forbid_unknown_fields=True,
        )
        positions = {spec.name: position for position, spec in enumerate(schema.fields)}
        deletion = positions.get(schema.deletion_field or "", -1)
        needed = tuple(
            (positions[spec.name], spec.need is Need.REQUIRED_UNLESS_DELETED and deletion >= 0)
            for spec in schema.needed
        )
        finisher = self.module.Finisher(
            tuple(spec.name for spec in schema.fields),
            tuple(step for _, _, _, step in fields),
            needed,
            deletion,
            tuple(rule.check for rule in schema.rules),
            self.tally,
        )
        return struct, finisher


class CompiledReader:
    """Reads the records of one kind of object from their exact bytes, or declines.

    `finishing_module` replaces schema/finishing.py (tests give its plain Python source).
    """

    def __init__(self, schema: ObjectSchema, finishing_module: ModuleType = finishing) -> None:
        build = _Builder(finishing_module)
        struct, self._finish = build(schema)
        self._tally = build.tally
        self._decoder = msgspec.json.Decoder(struct)
        self._declined = (Declined, finishing_module.Declined)
        self._quotes = finishing_module.unescaped_quotes

    def read(self, raw: msgspec.Raw) -> Record | None:
        """The record parse_object would read from these bytes without any issue, or None.

        The caller makes sure the bytes hold no escaped NUL (\\u0000), which must be refused.
        """
        self._tally.reset()
        try:
            record: Record = self._finish(self._decoder.decode(raw))
        except (msgspec.DecodeError, *self._declined, RecursionError, ValueError, ArithmeticError):
            # ValueError: also msgspec.ValidationError, and UnicodeDecodeError for the UTF-8 of
            # a surrogate, which parse_object reads (and refuses with the field's name).
            return None
        if self._tally.quotes() != self._quotes(bytes(raw)):
            return None  # a name given twice in one object (msgspec kept the last one)
        return record
