"""Field tables and the one parser that reads any pushed object against its table.

Every object of the API (ContactDetails, ContactGroup, List, Meeting, ...) is declared once as an
`ObjectSchema`: its fields, their kinds and limits, which are required, and the rules that involve
several fields. The parser, the OpenAPI document, the read-back serialiser and the docs all derive
from these tables.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

from pushapi.errors import Issue
from pushapi.schema.values import (
    ID_MAX_LENGTH,
    STRING_MAX_LENGTH,
    Kind,
    NaiveDateTime,
    ValueProblem,
    describe_json,
    parse_bool,
    parse_datetime,
    parse_decimal,
    parse_id,
    parse_id_list,
    parse_int,
    parse_string,
)

Record = dict[str, Any]


class Pairs(list[tuple[str, Any]]):
    """A pushed JSON object that names a property more than once, as its (name, value) pairs
    in order (json.loads would keep the last silently); parse_object reads it like an object
    and warns about each repeated name."""

    def items(self) -> "Pairs":
        return self


def object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any] | Pairs:
    """json.loads' object_pairs_hook for pushed records: a dict, or Pairs when a property name
    repeats."""
    record = dict(pairs)
    return record if len(record) == len(pairs) else Pairs(pairs)


# A check that involves several fields: yields (field name, message) for each problem it finds.
Check = Callable[[Record], Iterable[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class Rule:
    """A check over several fields, run when none of the fields it reads failed to parse."""

    reads: tuple[str, ...]
    check: Check


def dates_in_order(begin: str, end: str) -> Rule:
    """A rule: `end` may not come before `begin` (DateTimes are normalised, so text order works)."""

    def check(record: Record) -> Iterator[tuple[str, str]]:
        if record[begin] is not None and record[end] is not None and record[end] < record[begin]:
            yield end, f"{end} is before {begin}"

    return Rule((begin, end), check)


class Need(Enum):
    """Whether a field must be given."""

    OPTIONAL = "optional"
    REQUIRED = "required"
    REQUIRED_UNLESS_DELETED = "required unless the record is deleted"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of an object: its canonical name, kind, limits and description."""

    name: str
    kind: Kind
    need: Need = Need.OPTIONAL
    doc: str = ""
    max_length: int | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    item: "ObjectSchema | None" = None
    # For the OpenAPI document only: the values a rule of the object takes (a regular expression).
    pattern: str | None = None
    length_limit: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_length is not None:
            limit = self.max_length
        else:
            limit = ID_MAX_LENGTH if self.kind is Kind.ID else STRING_MAX_LENGTH
        object.__setattr__(self, "length_limit", limit)

    def parse_scalar(self, raw: Any) -> Any:
        """Read a non-null raw value of a scalar field; raise ValueProblem when it is wrong."""
        kind = self.kind
        if kind is Kind.STRING:
            return parse_string(raw, self.length_limit)
        if kind is Kind.ID:
            return parse_id(raw)
        if kind is Kind.BOOL:
            return parse_bool(raw)
        if kind is Kind.DATETIME:
            return parse_datetime(raw)
        if kind is Kind.INT:
            value: Any = parse_int(raw)
        elif kind is Kind.DECIMAL:
            value = parse_decimal(raw)
        elif kind is Kind.ID_LIST:
            return parse_id_list(raw)
        else:  # pragma: no cover - objects are parsed by parse_object
            raise AssertionError(kind)
        if value is not None:
            if self.minimum is not None and value < self.minimum:
                raise ValueProblem(f"expected a value of at least {self.minimum}, got {value}")
            if self.maximum is not None and value > self.maximum:
                raise ValueProblem(f"expected a value of at most {self.maximum}, got {value}")
        return value


@dataclass(frozen=True)
class ObjectSchema:
    """The field table of one kind of object, with its rules that involve several fields."""

    name: str
    fields: tuple[Field, ...]
    doc: str = ""
    rules: tuple[Rule, ...] = ()
    deletion_field: str | None = None
    lookup: dict[str, Field] = field(init=False, repr=False, compare=False)
    # Derived once, for the parser's inner loop: an empty record to copy, the required fields.
    empty_record: Record = field(init=False, repr=False, compare=False)
    needed: tuple[Field, ...] = field(init=False, repr=False, compare=False)
    # The fields that hold several entries (object and id lists): those with a count limit.
    collections: tuple[Field, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup: dict[str, Field] = {}
        for f in self.fields:
            lookup[f.name] = f
            lookup[f.name.lower()] = f
        object.__setattr__(self, "lookup", lookup)
        object.__setattr__(self, "empty_record", dict.fromkeys(f.name for f in self.fields))
        needed = tuple(f for f in self.fields if f.need is not Need.OPTIONAL)
        object.__setattr__(self, "needed", needed)
        collections = tuple(f for f in self.fields if f.kind in (Kind.OBJECT_LIST, Kind.ID_LIST))
        object.__setattr__(self, "collections", collections)

    def __getitem__(self, name: str) -> Field:
        return self.lookup[name]

    def is_deletion(self, record: Record) -> bool:
        """Whether a parsed record of this object asks for a soft delete."""
        return self.deletion_field is not None and record.get(self.deletion_field) is True


class Report:
    """The errors and warnings found while reading one push, each with index and path."""

    def __init__(self) -> None:
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []

    def error(self, index: int, path: str, message: str) -> None:
        self.errors.append(Issue(index, path, message))

    def warn(self, index: int, path: str, message: str) -> None:
        self.warnings.append(Issue(index, path, message))


# Normalised DateTimes by their pushed text: real pushes repeat the same dates over and over.
# Only zoned values are kept (a zoneless one must warn each time); the cache is bounded.
_DATETIME_CACHE: dict[str, str] = {}
_DATETIME_CACHE_SIZE = 50_000


def forget_datetimes() -> None:
    """Empty the cache of normalised DateTimes (for measurements that must start cold)."""
    _DATETIME_CACHE.clear()


def cached_datetime(raw: str) -> str | None:
    """The normalised form of a zoned DateTime read before, if it is remembered."""
    return _DATETIME_CACHE.get(raw)


def remember_datetime(raw: str, normalised: str) -> None:
    """Remember how a zoned DateTime (never a zoneless one, which must warn) was normalised."""
    if len(_DATETIME_CACHE) >= _DATETIME_CACHE_SIZE:
        _DATETIME_CACHE.clear()
    _DATETIME_CACHE[raw] = normalised


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _shown_key(key: str) -> str:
    """A pushed property name as it can be echoed in a path (a lone surrogate is escaped)."""
    if not key:
        return '""'  # an empty name would leave a path that points at the object itself
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def parse_object(
    schema: ObjectSchema, raw: Any, index: int, prefix: str, report: Report
) -> Record | None:
    """Read one pushed object into a record of canonical names, in table order.

    Property names match case-insensitively; unknown ones are warnings. Every problem is added to
    `report`; None is returned when the value is not an object at all.
    """
    if type(raw) is not dict and type(raw) is not Pairs:
        where = prefix or "(record)"
        report.error(index, where, f"expected a {schema.name} object, got {describe_json(raw)}")
        return None
    record: Record = schema.empty_record.copy()
    failed: set[str] = set()
    lookup = schema.lookup
    given: set[str] = set()
    for key, value in raw.items():
        spec = lookup.get(key) or lookup.get(key.lower())
        if spec is None:
            path = _join(prefix, _shown_key(key))
            report.warn(index, path, f"unknown property of {schema.name}; ignored")
            continue
        if spec.name in given:
            # The same name twice, in one letter case or two ("FirstName", "firstname"): JSON
            # has no rule, and keeping the last value silently hid mistakes (a later null).
            path = _join(prefix, _shown_key(key))
            report.warn(
                index, path, f"{spec.name} given more than once; the last non-null value is kept"
            )
        given.add(spec.name)
        if value is None:
            continue
        kind = spec.kind
        # Fast paths for the values almost every push holds; anything else takes the full
        # parser below, which decides exactly as these do.
        if kind is Kind.STRING or kind is Kind.ID:
            if (
                type(value) is str
                and 0 < len(value) <= spec.length_limit
                and value.isascii()
                and not value.isspace()
                and "\x00" not in value
            ):
                record[spec.name] = value
                continue
        elif kind is Kind.BOOL:
            if value is True or value is False:
                record[spec.name] = value
                continue
        elif kind is Kind.DATETIME:
            if type(value) is str:
                cached = _DATETIME_CACHE.get(value)
                if cached is not None:
                    record[spec.name] = cached
                    continue
        elif kind is Kind.OBJECT:
            assert spec.item is not None
            record[spec.name] = parse_object(
                spec.item, value, index, _join(prefix, spec.name), report
            )
            if record[spec.name] is None:
                failed.add(spec.name)  # reported as the wrong type; not also as missing
            continue
        elif kind is Kind.OBJECT_LIST:
            record[spec.name] = _parse_object_list(spec, value, index, prefix, report)
            continue
        try:
            parsed = spec.parse_scalar(value)
        except ValueProblem as problem:
            report.error(index, _join(prefix, spec.name), str(problem))
            failed.add(spec.name)
            continue
        if type(parsed) is NaiveDateTime:
            report.warn(index, _join(prefix, spec.name), "DateTime without a zone; taken as UTC")
            parsed = str(parsed)
        elif kind is Kind.DATETIME and parsed is not None:
            remember_datetime(value, parsed)
        record[spec.name] = parsed
    _check_requirements(schema, record, failed, index, prefix, report)
    return record


def _parse_object_list(
    spec: Field, value: Any, index: int, prefix: str, report: Report
) -> list[Record]:
    path = _join(prefix, spec.name)
    assert spec.item is not None
    if type(value) is not list:
        got = describe_json(value)
        report.error(index, path, f"expected an array of {spec.item.name} objects, got {got}")
        return []
    items = []
    for position, entry in enumerate(value):
        item = parse_object(spec.item, entry, index, f"{path}[{position}]", report)
        if item is not None:
            items.append(item)
    return items


def _check_requirements(
    schema: ObjectSchema,
    record: Record,
    failed: set[str],
    index: int,
    prefix: str,
    report: Report,
) -> None:
    deleting = schema.is_deletion(record)
    for f in schema.needed:
        if record[f.name] is not None or f.name in failed:
            continue
        if f.need is Need.REQUIRED_UNLESS_DELETED and deleting:
            continue
        report.error(index, _join(prefix, f.name), f"required {f.kind.value} is missing or blank")
    for rule in schema.rules:
        # A rule over a value that failed to parse would judge a value that is not there.
        if failed and not failed.isdisjoint(rule.reads):
            continue
        for name, message in rule.check(record):
            report.error(index, _join(prefix, name), message)


def walk(schema: ObjectSchema) -> Iterator[ObjectSchema]:
    """Yield a schema and every object schema nested in it, each once."""
    seen: set[str] = set()
    stack = [schema]
    while stack:
        current = stack.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        yield current
        stack.extend(f.item for f in current.fields if f.item is not None)
