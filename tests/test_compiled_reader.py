"""The compiled reader (schema/compiled.py) against parse_object: on any record, it returns what
parse_object returns when that record has no error and no warning, and declines otherwise. Its
finishing compiled by Cython and the same source run as plain Python give the same answers."""

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.modules import plain_python

from pushapi.push.read import decode_record, split_body
from pushapi.schema import finishing
from pushapi.schema.compiled import CompiledReader
from pushapi.schema.contact import CONTACT_INFO
from pushapi.schema.fields import Need, ObjectSchema, Report, parse_object
from pushapi.schema.lists import LIST
from pushapi.schema.meeting import MEETING
from pushapi.schema.product import PRODUCT
from pushapi.schema.values import Kind

SCHEMAS = {schema.name: schema for schema in (CONTACT_INFO, LIST, MEETING, PRODUCT)}
READERS = {name: CompiledReader(schema) for name, schema in SCHEMAS.items()}
PLAIN_FINISHING = plain_python(finishing)
PYTHON_READERS = {name: CompiledReader(s, PLAIN_FINISHING) for name, s in SCHEMAS.items()}
CANONICAL = Path(__file__).parent / "data" / "canonical-contacts.json"


class Literal(str):
    """JSON text written as it is: a number exactly as an integrator's client may write it."""


class Pairs(list[tuple[str, Any]]):
    """A JSON object as its properties in order, so that a name may appear twice."""


def encode(value: Any) -> str:
    if isinstance(value, Literal):
        return str(value)
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(item) for item in value) + "]"
    return json.dumps(value)


NUMBERS = st.one_of(
    st.sampled_from(
        ["0", "-0", "-0.0", "0.0", "1.5", "1.50", "1e3", "1E-2", "-1e400", "90", "90.0000001",
         "-90", "-180.5", "180", "62.0", "2147483647", "2147483648", "-2147483648",
         "-2147483649", "123456789012345678901234567890123456789", "1234567890123456789012345678.5",
         "0.00000000000000000000000000000000000001", "27.224477", "-78.235304"]
    ).map(Literal),
    st.integers(-(2**40), 2**40).map(lambda n: Literal(str(n))),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(lambda d: Literal(str(d))),
)  # fmt: skip
TEXTS = st.one_of(
    st.sampled_from(["", " ", "\t\n", "\u00a0", "\u2003x", "x", "Doe", "é" * 3, "a" * 300]),
    st.text(max_size=12),
    st.text(alphabet=" \t", min_size=1, max_size=3),
)
DATETIMES = st.sampled_from(
    ["2020-01-01", "2020-01-01T00:00:00Z", "2013-05-02T09:50:28.228-07:00",
     "2013-05-02T09:50:28.2281234+01:00", "2020-01-01T00:00:00", "2020-01-01t00:00:00z",
     "2020-13-01T00:00:00Z", "2020-02-30", "2020-01-01T00:00:00+14:01", "2020-01-01T00:00:00.000Z",
     "1999-12-31T23:59:59.999Z", "", " ", "not a date", "\uff12\uff10\uff12\uff10-01-01"]
)  # fmt: skip
OTHERS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(["true", "FALSE", "yes", "12", " 7 ", "1.5", "NaN", "1_0"]),
    st.just([]),
    st.just(Pairs()),
)


CLEAN_DATETIMES = st.sampled_from(
    ["2020-01-01", "2020-01-01T00:00:00Z", "2013-05-02T09:50:28.228-07:00", "",
     "2013-05-02T09:50:28.2281234+01:00", "2020-01-01T00:00:00.000Z", "1999-12-31T23:59:59.999Z"]
)  # fmt: skip
CLEAN_TEXTS = st.one_of(
    st.sampled_from(["", " ", "Doe", "Add", "replace", "x" * 300]), st.text(min_size=1, max_size=8)
)


def value_of(
    kind: Kind, item: ObjectSchema | None, depth: int, clean: bool
) -> st.SearchStrategy[Any]:
    if kind in (Kind.STRING, Kind.ID):
        usual: st.SearchStrategy[Any] = CLEAN_TEXTS if clean else TEXTS
    elif kind is Kind.BOOL:
        usual = st.booleans()
    elif kind in (Kind.INT, Kind.DECIMAL):
        usual = NUMBERS
    elif kind is Kind.DATETIME:
        usual = CLEAN_DATETIMES if clean else DATETIMES
    elif kind is Kind.ID_LIST:
        usual = st.lists(CLEAN_TEXTS if clean else TEXTS, max_size=4)
    elif kind is Kind.OBJECT:
        assert item is not None
        usual = record_of(item, depth + 1, clean)
    else:
        assert item is not None
        entries = record_of(item, depth + 1, clean)
        usual = st.lists(entries if clean else st.one_of(entries, OTHERS), max_size=3)
    return st.one_of(st.none(), usual) if clean else st.one_of(usual, usual, usual, OTHERS)


def record_of(
    schema: ObjectSchema, depth: int = 0, clean: bool = False
) -> st.SearchStrategy[Pairs]:
    """A record of `schema`: with names in other case, unknown and repeated properties and values
    of any JSON type; or, `clean`, with canonical names and values of the expected JSON types
    only (many of them still refused or converted by parse_object: blank, too long, ...)."""
    if depth > 2:
        return st.just(Pairs())

    @st.composite
    def build(draw: st.DrawFn) -> Pairs:
        pairs = Pairs()
        for spec in schema.fields:
            if not draw(st.integers(0, 3)) and not (clean and spec.need is not Need.OPTIONAL):
                continue  # absent
            names = [spec.name] if clean else [spec.name] * 3 + [spec.name.lower()]
            name = draw(st.sampled_from(names))
            pairs.append((name, draw(value_of(spec.kind, spec.item, depth, clean))))
        extra = None if clean else draw(st.sampled_from([None, None, "Nickname", "", "duplicate"]))
        if extra == "duplicate" and pairs:
            pairs.append(draw(st.sampled_from(pairs)))
        elif extra is not None:
            pairs.append((extra, "x"))
        return pairs

    return build()


def exact(value: Any) -> Any:
    """A value with every scalar's type and exact text, so Decimal("1.50") != Decimal("1.5")."""
    if isinstance(value, dict):
        return {name: exact(item) for name, item in value.items()}, list(value)
    if isinstance(value, list):
        return [exact(item) for item in value]
    return type(value).__name__, str(value)


def both_readings(schema: ObjectSchema, text: str) -> tuple[Any, Any, Report]:
    raws = split_body(f"[{text}]".encode(), 10).raws
    assert raws is not None
    report = Report()
    generic = parse_object(schema, decode_record(raws[0]), 0, "", report)
    compiled = READERS[schema.name].read(raws[0])
    in_python = PYTHON_READERS[schema.name].read(raws[0])
    assert (compiled is None) == (in_python is None)
    if compiled is not None:
        assert exact(compiled) == exact(in_python)
    return compiled, generic, report


def check_agreement(schema: ObjectSchema, record: Any) -> Any:
    text = encode(record)
    if "\\u0000" in text:
        return None  # the push route never gives such a body to the compiled reader
    compiled, generic, report = both_readings(schema, text)
    if compiled is not None:
        assert not report.errors and not report.warnings, (report.errors, report.warnings)
        assert exact(compiled) == exact(generic)
    return compiled


@pytest.mark.parametrize("schema_name", sorted(SCHEMAS))
@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(data=st.data())
def test_compiled_reader_agrees_with_parse_object(schema_name: str, data: st.DataObject) -> None:
    schema = SCHEMAS[schema_name]
    clean = data.draw(st.booleans())
    check_agreement(schema, data.draw(record_of(schema, clean=clean)))


def test_canonical_contacts_are_read_by_the_compiled_reader_exactly_as_by_parse_object():
    raws = split_body(CANONICAL.read_bytes(), 10).raws
    assert raws
    for raw in raws:
        compiled, generic, _report = both_readings(CONTACT_INFO, bytes(raw).decode())
        assert compiled is not None
        assert exact(compiled) == exact(generic)


@pytest.mark.parametrize(
    ("schema_name", "text"),
    [
        ("ContactInfo", '{"ContactDetails": {"ContactId": "a", "LastName": "Doe"}}'),
        ("ContactInfo", '{"ContactDetails": {"ContactId": "a", "IsDeleted": true}}'),
        (
            "ContactInfo",
            '{"ContactDetails": {"ContactId": "a", "FirstName": "A", "LastName": " "},'
            ' "Groups": null}',
        ),
        ("Product", '{"ProductId": "p", "ProductName": "Book", "Price": 12.50}'),
        ("List", '{"ListId": "l", "Mode": "Add", "ContactIds": ["a", "b"]}'),
    ],
)
def test_records_in_the_usual_form_are_taken(schema_name: str, text: str) -> None:
    compiled, generic, report = both_readings(SCHEMAS[schema_name], text)
    assert compiled is not None, (report.errors, report.warnings)
    assert exact(compiled) == exact(generic)


@pytest.mark.parametrize(
    "details",
    [
        '"contactid": "a", "LastName": "Doe"',  # other letter case
        '"ContactId": "a", "LastName": "Doe", "Nickname": "x"',  # unknown property
        '"ContactId": "a", "LastName": "Doe", "Age": "42"',  # a string for a number
        '"ContactId": "a", "LastName": "Doe", "IsMember": "true"',  # a string for a boolean
        '"ContactId": "a", "LastName": "Doe", "Birthday": "2000-01-01T00:00:00"',  # no zone
        '"ContactId": "a", "LastName": "Doe", "Age": 62.0',  # an integral decimal
        '"ContactId": " ", "LastName": "Doe"',  # a blank required id
        '"ContactId": "a"',  # no name
    ],
)
def test_records_parse_object_converts_or_warns_about_are_declined(details: str) -> None:
    compiled, _generic, _report = both_readings(
        CONTACT_INFO, f'{{"ContactDetails": {{{details}}}}}'
    )
    assert compiled is None


def _pairs(value: Any) -> Any:
    if isinstance(value, dict):
        return Pairs((name, _pairs(item)) for name, item in value.items())
    if isinstance(value, list):
        return [_pairs(item) for item in value]
    if isinstance(value, Decimal):
        return Literal(str(value))
    return value


CANONICAL_RECORDS = [_pairs(r) for r in json.loads(CANONICAL.read_text(), parse_float=Decimal)]


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_compiled_reader_agrees_on_canonical_contacts_with_one_value_changed(
    data: st.DataObject,
) -> None:
    record = copy.deepcopy(data.draw(st.sampled_from(CANONICAL_RECORDS)))
    spec = data.draw(st.sampled_from(CONTACT_INFO.fields))
    target: Pairs = record
    if spec.item is not None:
        place = [position for position, (name, _) in enumerate(record) if name == spec.name]
        value = record[place[0]][1] if place else None
        if isinstance(value, Pairs):
            target = value
        elif isinstance(value, list) and value:
            target = data.draw(st.sampled_from(value))
        spec = data.draw(st.sampled_from(spec.item.fields))
    clean = data.draw(st.booleans())
    new_value = data.draw(value_of(spec.kind, spec.item, 1, clean))
    names = [position for position, (name, _) in enumerate(target) if name == spec.name]
    if names:
        target[names[0]] = (spec.name, new_value)
    else:
        target.append((spec.name, new_value))
    check_agreement(CONTACT_INFO, record)


@pytest.mark.parametrize(
    "text",
    [
        '{"ContactDetails":{"ContactId":"a","LastName":"B","LastName":"C"}}',
        '{"ContactDetails":{"ContactId":"a","LastName":"B"},"Groups":[],"Groups":[]}',
        '{"ContactDetails":{"ContactId":"a","LastName":"B","Age":1,"Age":null}}',
        '{"ContactDetails":{"ContactId":"a","LastName":"B"},'
        '"Addresses":[{"Latitude":1.5,"Latitude":2.5}]}',
    ],
)
def test_a_name_given_twice_in_one_object_is_declined_and_warned_by_parse_object(text):
    compiled, generic, report = both_readings(CONTACT_INFO, text)
    assert compiled is None
    assert any("given more than once" in w.message for w in report.warnings)
    assert generic is not None


def test_names_are_counted_past_quotes_and_colons_inside_values():
    record = {"ContactDetails": {"ContactId": 'x":', "LastName": 'a\\":"b'}}
    compiled, generic, report = both_readings(CONTACT_INFO, json.dumps(record))
    assert compiled is not None and not report.warnings
    assert exact(compiled) == exact(generic)


def test_a_value_ending_in_a_backslash_is_read_the_same_by_either_path():
    record = {"ContactDetails": {"ContactId": "x", "LastName": "ends with \\"}}
    compiled, generic, report = both_readings(CONTACT_INFO, json.dumps(record))
    assert not report.warnings and generic is not None
    assert compiled is None or exact(compiled) == exact(generic)
