"""Properties of the value parsers (SPEC 3.1) on generated inputs.

Expected results are computed here independently: DateTimes with datetime arithmetic on the
generated wall time and offset, decimals as exact fractions of the generated digits, integers
against the literal 32-bit bounds.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushapi.schema.contact import CONTACT_INFO
from pushapi.schema.fields import Field, ObjectSchema, Report, parse_object
from pushapi.schema.values import (
    Kind,
    NaiveDateTime,
    ValueProblem,
    parse_bool,
    parse_datetime,
    parse_decimal,
    parse_id,
    parse_id_list,
    parse_int,
    parse_string,
)
from pushapi.store.documents import dump_document, load_json

UNIT = settings(max_examples=200, deadline=None)
OBJECTS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies -----------------------------------------------------------------------------

# Any text, lone surrogates (which JSON's \ud800 escapes produce) and NUL included.
any_text = st.text(
    st.one_of(st.characters(), st.characters(categories=["Cs"]), st.just("\x00")), max_size=40
)
# Text made of the characters DateTimes and numbers are written with, to reach deep branches.
formatish_text = st.text(st.sampled_from("0123456789-+:.TtZzEe \u0661\uff11"), max_size=40)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.decimals(allow_nan=False, allow_infinity=False),
    any_text,
    formatish_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(any_text, inner, max_size=4)
    ),
    max_leaves=8,
)
wall_times = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 1, 23, 59, 59)),
    st.datetimes(min_value=datetime(9999, 12, 31), max_value=datetime(9999, 12, 31, 23, 59, 59)),
)


def case_variant(name: str) -> st.SearchStrategy[str]:
    """`name` with each letter in either case (property names match case-insensitively)."""
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda upper: "".join(
            c.upper() if u else c.lower() for c, u in zip(name, upper, strict=True)
        )
    )


@dataclass(frozen=True)
class Written:
    """A DateTime as written by a client, and what it stands for."""

    text: str
    wall: datetime  # the written date and time, without its fraction of a second
    offset_minutes: int
    millis: int  # the written fraction of a second, truncated to milliseconds
    naive: bool  # written without a zone

    def instant(self) -> datetime | None:
        """The naive UTC instant truncated to milliseconds, or None outside the years 1..9999."""
        try:
            return (
                self.wall
                + timedelta(milliseconds=self.millis)
                - timedelta(minutes=self.offset_minutes)
            )
        except OverflowError:
            return None

    def expected(self) -> str | None:
        """The instant as the API writes it: yyyy-MM-ddTHH:mm:ss.fffZ."""
        utc = self.instant()
        if utc is None:
            return None
        return (
            f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
            f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
        )


@st.composite
def written_datetimes(draw: st.DrawFn) -> Written:
    wall = draw(wall_times).replace(microsecond=0)
    digits = draw(st.integers(0, 7))
    fraction = draw(st.integers(0, 10**digits - 1))
    zone = draw(st.sampled_from(["Z", "z", "offset", "none"]))
    offset = draw(st.integers(-14 * 60, 14 * 60)) if zone == "offset" else 0
    text = (
        f"{wall.year:04d}-{wall.month:02d}-{wall.day:02d}{draw(st.sampled_from('Tt'))}"
        f"{wall.hour:02d}:{wall.minute:02d}:{wall.second:02d}"
    )
    if digits:
        text += "." + str(fraction).zfill(digits)
    if zone in ("Z", "z"):
        text += zone
    elif zone == "offset":
        hours, minutes = divmod(abs(offset), 60)
        sign = draw(st.sampled_from("+-")) if offset == 0 else ("+" if offset > 0 else "-")
        text += f"{sign}{hours:02d}:{minutes:02d}"
    millis = fraction * 1000 // 10**digits  # the fraction of a second, truncated
    return Written(text, wall, offset, millis, zone == "none")


@st.composite
def numeric_texts(draw: st.DrawFn) -> tuple[str, Fraction]:
    """A numeric string of an accepted form, and its exact value."""
    sign = draw(st.sampled_from(["", "+", "-"]))
    whole = draw(st.text("0123456789", max_size=25))
    fraction = draw(st.text("0123456789", max_size=25))
    if not whole and not fraction:
        whole = "0"
    point = "." if fraction else draw(st.sampled_from(["", "."]))
    exponent = draw(st.none() | st.integers(-45, 45))
    text = f"{sign}{whole}{point}{fraction}"
    value = Fraction(int(whole + fraction or "0"), 10 ** len(fraction))
    if exponent is not None:
        text += f"{draw(st.sampled_from('eE'))}{exponent:+d}"
        value *= Fraction(10) ** exponent
    return text, -value if sign == "-" else value


# --- DateTime -------------------------------------------------------------------------------


@UNIT
@given(written_datetimes())
def test_datetime_in_any_accepted_form_is_its_utc_instant_truncated_to_milliseconds(written):
    expected = written.expected()
    if expected is None:
        with pytest.raises(ValueProblem):
            parse_datetime(written.text)
        return
    parsed = parse_datetime(written.text)
    assert parsed == expected
    assert isinstance(parsed, NaiveDateTime) is written.naive


@UNIT
@given(st.dates())
def test_date_alone_is_midnight_utc(day):
    text = f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    assert parse_datetime(text) == f"{text}T00:00:00.000Z"


@UNIT
@given(written_datetimes())
def test_datetime_normalisation_is_idempotent(written):
    try:
        once = parse_datetime(written.text)
    except ValueProblem:
        return
    assert once is not None
    twice = parse_datetime(str(once))
    assert twice == once
    assert not isinstance(twice, NaiveDateTime)  # the normalised form carries its zone


@UNIT
@given(written_datetimes(), written_datetimes())
def test_normalised_datetimes_compare_as_text_like_their_instants(first, second):
    """Stored DateTimes are compared as text (active memberships, dates in order: SPEC 4.1)."""
    if first.instant() is None or second.instant() is None:
        return
    a, b = parse_datetime(first.text), parse_datetime(second.text)
    assert a is not None and b is not None
    assert (a < b) == (first.instant() < second.instant())
    assert (a == b) == (first.instant() == second.instant())


# --- decimal --------------------------------------------------------------------------------


@UNIT
@given(numeric_texts())
def test_decimal_string_keeps_its_exact_value_or_is_refused_for_its_size(case):
    text, exact = case
    try:
        value = parse_decimal(text)
    except ValueProblem as problem:
        assert "38 digits" in str(problem)
        return
    assert value is not None
    assert Fraction(value) == exact


@UNIT
@given(st.one_of(numeric_texts().map(lambda case: case[0]), st.decimals(allow_nan=False)))
def test_decimal_normalisation_is_idempotent_through_json(raw):
    try:
        once = parse_decimal(raw)
    except ValueProblem:
        return
    assert once is not None
    # What the read API writes is str(value) as a JSON number; a client pushes that back.
    again = parse_decimal(load_json(str(once)))
    assert again == once
    if not once.is_zero():
        assert str(again) == str(once)  # digit for digit, exponent and trailing zeros too
    assert str(parse_decimal(str(once))) == str(once)


# --- int and bool ---------------------------------------------------------------------------


@UNIT
@given(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from(["json", "string", "padded", "plus", "decimal"]),
)
def test_int_in_any_accepted_form_is_its_value_within_32_bits(number, form):
    raw: Any = {
        "json": number,
        "string": str(number),
        "padded": f"  {number}\t",
        "plus": f"+{number}" if number >= 0 else str(number),
        "decimal": load_json(f"{number}.0"),
    }[form]
    if -(2**31) <= number <= 2**31 - 1:
        assert parse_int(raw) == number
        assert parse_int(str(parse_int(raw))) == parse_int(raw)  # idempotent
    else:
        with pytest.raises(ValueProblem):
            parse_int(raw)


@st.composite
def written_bools(draw: st.DrawFn) -> tuple[Any, bool]:
    truth = draw(st.booleans())
    if draw(st.booleans()):
        return truth, truth
    word = "true" if truth else "false"
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in word)
    padding = draw(st.sampled_from(["", " ", "\t", "  "]))
    return f"{padding}{cased}{padding}", truth


@UNIT
@given(written_bools())
def test_bool_in_any_accepted_form_is_its_truth_and_idempotent(case):
    raw, truth = case
    assert parse_bool(raw) is truth
    assert parse_bool(orjson.loads(orjson.dumps(parse_bool(raw)))) is truth


# --- robustness -----------------------------------------------------------------------------

PARSERS = {
    "string": lambda raw: parse_string(raw, 4000),
    "id": parse_id,
    "int": parse_int,
    "bool": parse_bool,
    "decimal": parse_decimal,
    "DateTime": parse_datetime,
    "ids": parse_id_list,
}


@UNIT
@given(st.sampled_from(sorted(PARSERS)), st.one_of(any_text, formatish_text))
def test_random_strings_never_crash_a_parser(name, text):
    try:
        value = PARSERS[name](text)
    except ValueProblem as problem:
        assert str(problem)  # a problem always says what was expected
        return
    orjson.dumps(value, default=str)  # whatever is accepted can be written as JSON


@UNIT
@given(st.sampled_from(sorted(PARSERS)), json_values)
def test_random_json_values_never_crash_a_parser(name, raw):
    try:
        value = PARSERS[name](raw)
    except ValueProblem:
        return
    orjson.dumps(value, default=str)  # whatever is accepted can be written as JSON


def field_values(field: Field, depth: int) -> st.SearchStrategy[Any]:
    """Values for one field: near-valid ones of its kind, and any JSON at all."""
    kind = field.kind
    if kind in (Kind.OBJECT, Kind.OBJECT_LIST) and field.item is not None and depth < 2:
        nested = objects(field.item, depth + 1)
        if kind is Kind.OBJECT:
            return st.one_of(nested, json_values)
        return st.one_of(st.lists(st.one_of(nested, json_scalars), max_size=3), json_values)
    near_valid = {
        Kind.DATETIME: written_datetimes().map(lambda written: written.text),
        Kind.DECIMAL: numeric_texts().map(lambda case: case[0]),
        Kind.INT: st.integers(-(2**32), 2**32),
        Kind.BOOL: written_bools().map(lambda case: case[0]),
    }.get(kind, any_text)
    return st.one_of(near_valid, json_values)


def objects(schema: ObjectSchema, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose properties are mostly the schema's (in any case), some unknown."""
    known = st.sampled_from(schema.fields).flatmap(
        lambda field: st.tuples(case_variant(field.name), field_values(field, depth))
    )
    unknown = st.tuples(any_text, json_values)
    return st.lists(st.one_of(known, known, unknown), max_size=6).map(dict)


@OBJECTS
@given(st.one_of(objects(CONTACT_INFO), json_values), st.integers(0, 10_000))
def test_random_records_never_raise_and_every_problem_is_reported(raw, index):
    report = Report()
    record = parse_object(CONTACT_INFO, raw, index, "", report)
    for issue in report.errors + report.warnings:
        assert issue.index == index
        assert isinstance(issue.path, str) and issue.path
        assert issue.message
    orjson.dumps([issue.as_json() for issue in report.errors + report.warnings])
    if not isinstance(raw, dict):
        assert record is None and report.errors
    if not report.errors:
        assert record is not None
        assert list(record) == [field.name for field in CONTACT_INFO.fields]
        dump_document(record)  # an accepted record can always be stored
