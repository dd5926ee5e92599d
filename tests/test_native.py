"""The native code against its Python twins, and the Python fallbacks the native build hides.

- schema/native.pyx (hand-written): `millis_zoned` (with or without milliseconds) must give
  what `parse_datetime` gives for every value it takes, take every value the Python
  `millis_zoned` takes, and leave the rest (None) to the general path. Its finishing is
  compared with the Python finishing in tests/test_compiled_reader.py.
- store/contact_rows.py and schema/warnings.py (compiled from Python in Cython's pure-Python
  mode): each compiled module must do exactly what its own source does as plain Python; e-mail
  plausibility must say what a full match of the documented pattern says.
"""

import copy
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.modules import plain_python

from pushapi.schema import compiled, finishing, values, warnings
from pushapi.schema.contact import CONTACT_INFO
from pushapi.schema.fields import Report, parse_object
from pushapi.schema.values import NaiveDateTime, ValueProblem, parse_datetime
from pushapi.store import contact_rows
from pushapi.store.documents import load_json

native = compiled.native
needs_native = pytest.mark.skipif(
    native is None and os.environ.get("PUSHAPI_REQUIRE_NATIVE") != "1",
    reason="built without a C compiler (PUSHAPI_REQUIRE_NATIVE=1 makes this a failure)",
)


def reference(raw: str) -> str | None:
    """What the general path makes of a value: its normal form, or None when it refuses it."""
    try:
        normalised = parse_datetime(raw)
    except ValueProblem:
        return None
    assert type(normalised) is not NaiveDateTime or normalised is None
    return normalised


def expected(raw: str) -> str | None:
    """The normal form of a valid `yyyy-MM-ddTHH:mm:ss.fff±hh:mm`, computed with datetime."""
    local = datetime.strptime(raw[:23], "%Y-%m-%dT%H:%M:%S.%f")
    zone = raw[23:]
    offset = 0 if zone == "Z" else int(zone[1:3]) * 60 + int(zone[4:6])
    try:
        utc = local - timedelta(minutes=-offset if zone[0] == "-" else offset)
    except OverflowError:
        return None
    return utc.replace(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@needs_native
def test_the_native_module_is_built_and_used():
    assert native is not None, "pushapi.schema.native is not built: is a C compiler installed?"
    assert compiled.NATIVE, "schema/finishing.py was not compiled"
    assert values.fast_millis_zoned is native.millis_zoned


EDGE_DATES = [
    "0001-01-01", "0001-01-02", "1999-12-31", "2000-01-01", "2000-02-28", "2000-02-29",
    "2000-03-01", "1900-02-28", "1900-03-01", "2023-02-28", "2024-02-29", "2024-04-30",
    "2024-05-01", "2024-06-30", "2024-12-31", "9999-12-30", "9999-12-31",
]  # fmt: skip
EDGE_TIMES = ["00:00:00.000", "00:59:59.999", "12:00:00.500", "13:45:07.001", "23:59:59.999"]
OFFSETS = [f"{sign}{m // 60:02d}:{m % 60:02d}" for m in range(0, 14 * 60 + 1, 15) for sign in "+-"]


@needs_native
def test_millis_zoned_shifts_every_offset_across_days_months_years_and_the_ends_of_time():
    checked = 0
    for day in EDGE_DATES:
        for time in EDGE_TIMES:
            for zone in ["Z", *OFFSETS]:
                raw = f"{day}T{time}{zone}"
                normal = expected(raw)
                # Without the milliseconds: the same moment at .000.
                whole = f"{day}T{time[:8]}{zone}"
                normal_whole = expected(f"{day}T{time[:8]}.000{zone}")
                for text, wanted in ((raw, normal), (whole, normal_whole)):
                    assert native.millis_zoned(text) == wanted, text
                    if wanted is not None:
                        assert reference(text) == wanted, text
                    checked += 1
    assert checked == 2 * len(EDGE_DATES) * len(EDGE_TIMES) * (1 + len(OFFSETS))


@needs_native
@pytest.mark.parametrize(
    "raw",
    [
        "2023-02-29T10:00:00.000Z",  # not a leap year
        "2024-04-31T10:00:00.000Z",
        "0000-01-01T10:00:00.000Z",  # the year 0
        "2024-13-01T10:00:00.000Z",
        "2024-00-01T10:00:00.000Z",
        "2024-01-00T10:00:00.000Z",
        "2024-01-32T10:00:00.000Z",
        "2024-01-01T24:00:00.000Z",
        "2024-01-01T10:60:00.000Z",
        "2024-01-01T10:00:60.000Z",
        "2024-01-01T10:00:00.000+14:01",  # beyond .NET's offsets: the general path refuses
        "2024-01-01T10:00:00.000+10:60",
        "2024-01-01T10:00:00.000z",  # other forms: the general path reads them
        "2024-01-01t10:00:00.000Z",
        "2024-01-01T10:00:00.00Z",
        "2024-01-01T10:00:00.0000Z",
        "2024-01-01T10:00:00",
        "2024-01-01T10:00:00+01:0",
        "2024-01-01T10:00:00+0100",
        "2024-01-01T10:00:00+",
        "2024-01-01T10:00:00.Z",
        "2024-01-01T10:00:00Z+01:0",
        "2024-02-30T10:00:00Z",
        "2024-01-01T10:00:00.000",
        "2024-01-01T10:00:00.000+0100",
        "2024-01-01T10:00:00.000Z+01:00",
        "2024-01-01 10:00:00.000Z",
        "2024-01-01T10:00:00,000Z",
        "\uff12024-01-01T10:00:00.000Z",  # a digit of another script
        "2024-01-01T10:00:00.00\u0661Z",
        "",
    ],
)
def test_millis_zoned_leaves_every_other_value_to_the_general_path(raw: str) -> None:
    assert native.millis_zoned(raw) is None


DIGITS = st.text(alphabet="0123456789", min_size=2, max_size=2)


@st.composite
def near_datetimes(draw: st.DrawFn) -> str:
    year = draw(st.sampled_from(["0000", "0001", "1900", "2000", "2023", "2024", "9999"]))
    parts = [year, "-", draw(DIGITS), "-", draw(DIGITS), "T", draw(DIGITS), ":", draw(DIGITS)]
    fraction = st.text(alphabet="0123456789", min_size=3, max_size=3).map(lambda f: f".{f}")
    parts += [":", draw(DIGITS), draw(st.one_of(fraction, st.just("")))]  # or whole seconds
    parts.append(
        draw(
            st.one_of(
                st.just("Z"),
                st.builds(lambda s, h, m: f"{s}{h}:{m}", st.sampled_from("+-"), DIGITS, DIGITS),
            )
        )
    )
    text = "".join(parts)
    if draw(st.integers(0, 3)) == 0:  # one character replaced
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.characters(max_codepoint=0x700)) + text[at + 1 :]
    return text


@needs_native
@settings(max_examples=3000, deadline=None, database=None)
@given(raw=st.one_of(near_datetimes(), st.text(max_size=30)))
def test_millis_zoned_agrees_with_the_python_rules(raw: str) -> None:
    result = native.millis_zoned(raw)
    if values.millis_zoned(raw) is not None:
        assert result == values.millis_zoned(raw)
    if result is not None:
        assert result == reference(raw)
        assert type(result) is str
    elif values._MILLIS_ZONED.fullmatch(raw):
        # The usual form, declined: only values the general path refuses.
        assert reference(raw) is None


# The pattern docs/integrators.md gives for a plausible e-mail address (\s: str.isspace()).
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PLAIN_WARNINGS = plain_python(warnings)
PLAIN_FINISHING = plain_python(finishing)


@settings(max_examples=3000, deadline=None, database=None)
@given(
    text=st.one_of(
        st.text(alphabet="a@. \t\u00a0\u2003\u3000\x1c\u0085é", max_size=12),
        st.text(max_size=12),
        st.builds(
            lambda local, domain, tld: f"{local}@{domain}.{tld}",
            st.text(max_size=4),
            st.text(max_size=4),
            st.text(max_size=4),
        ),
    )
)
def test_plausible_email_is_a_full_match_of_the_email_pattern(text: str) -> None:
    expected = EMAIL.fullmatch(text) is not None
    assert warnings.plausible_email(text) is expected
    assert PLAIN_WARNINGS.plausible_email(text) is expected


def test_plausible_email_agrees_with_the_pattern_on_every_code_point_around_the_at():
    for code in range(0x3000 + 1):
        char = chr(code)
        for text in (f"a{char}@b.c", f"a@b{char}.c", f"a@b.{char}", f"{char}a@b.c", f"a@b.c{char}"):
            assert warnings.plausible_email(text) is (EMAIL.fullmatch(text) is not None), text


@pytest.mark.parametrize(
    ("text", "plausible"),
    [
        ("dev.adams.1@example.org", True),
        ("a@b.c", True),
        ("a@b..c", True),
        ("a@.b.c", True),
        ("a@b.", False),
        ("a@.b", False),
        ("@b.c", False),
        ("a@@b.c", False),
        ("a@b.c@d.e", False),
        ("a b@c.d", False),
        ("a@b.c\u00a0", False),
        ("a@bc", False),
        ("", False),
    ],
)
def test_plausible_email_examples(text: str, plausible: bool) -> None:
    assert warnings.plausible_email(text) is plausible


@settings(max_examples=200, deadline=None, database=None)
@given(
    record=st.deferred(lambda: contact_records()),
    platform=st.sampled_from(["community", "community-essentials"]),
)
def test_compiled_warnings_are_those_of_their_python_source(record: dict[str, Any], platform: str):
    found = []
    for module in (warnings, PLAIN_WARNINGS):
        report = Report()
        parsed = parse_object(CONTACT_INFO, copy.deepcopy(record), 0, "", report)
        assert parsed is not None and not report.errors
        module.contact_warnings(parsed, 0, platform, report)
        found.append([(w.index, w.path, w.message) for w in report.warnings])
    assert found[0] == found[1]


# -- store/contact_rows.py: compiled from Python, and the same source as plain Python ------------

CANONICAL = load_json((Path(__file__).parent / "data" / "canonical-contacts.json").read_bytes())


PLAIN_CONTACT_ROWS = plain_python(contact_rows)


def normalised(raw_record: dict[str, Any], module: ModuleType, essentials: bool) -> Any:
    """What a module's contact_parts makes of a record read by parse_object, and the record."""
    report = Report()
    record = parse_object(CONTACT_INFO, copy.deepcopy(raw_record), 0, "", report)
    assert record is not None and not report.errors
    return module.contact_parts(record, essentials), record


@st.composite
def contact_records(draw: st.DrawFn) -> dict[str, Any]:
    record = copy.deepcopy(draw(st.sampled_from(CANONICAL)))
    groups = record["Groups"]
    if groups and draw(st.booleans()):
        groups.append(dict(draw(st.sampled_from(groups))))  # a repeated (GroupId, Role)
    if draw(st.integers(0, 3)) == 0:
        record["ContactDetails"]["PrimaryEmailAddress"] = "not-an-address"
    if record["EmailAddresses"] and draw(st.integers(0, 3)) == 0:
        record["EmailAddresses"][0]["EmailAddress"] = "a@b"
    for name in ("Groups", "Orders", "Addresses", "Education"):
        choice = draw(st.integers(0, 4))
        if choice == 0:
            record[name] = None
        elif choice == 1:
            record.pop(name, None)
        elif choice == 2:
            record[name] = []
    if draw(st.booleans()):
        record["ContactDetails"]["ParentContactId"] = draw(st.sampled_from(["P1", "C000001"]))
    if draw(st.booleans()):
        record["Orders"] = [
            {"OrderId": "O1", "ProductId": "P-1"},
            {"OrderId": "O2", "ProductId": "P-2"},
        ]
    return dict(record)


@needs_native
def test_the_contact_normalisation_is_compiled():
    assert contact_rows.__file__ is not None
    assert not contact_rows.__file__.endswith(".py"), "store/contact_rows.py was not compiled"
    assert PLAIN_CONTACT_ROWS.__file__ is not None and PLAIN_CONTACT_ROWS.__file__.endswith(".py")


@settings(max_examples=300, deadline=None, database=None)
@given(record=contact_records(), essentials=st.booleans())
def test_compiled_contact_rows_normalise_as_their_python_source(
    record: dict[str, Any], essentials: bool
) -> None:
    compiled_parts, compiled_record = normalised(record, contact_rows, essentials)
    python_parts, python_record = normalised(record, PLAIN_CONTACT_ROWS, essentials)
    assert compiled_parts == python_parts  # rows, attributes, references, orders
    assert compiled_record == python_record  # the document as stored


# -- schema/finishing.count_entries: a JSON array's entries, counted without building them -----


@settings(max_examples=500, deadline=None, database=None)
@given(
    entries=st.lists(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=4), inner, max_size=3)
            ),
            max_leaves=6,
        ),
        max_size=12,
    ),
    spaced=st.booleans(),
)
def test_count_entries_counts_what_json_reads(entries: list[Any], spaced: bool) -> None:
    import json

    text = json.dumps(entries, indent=1 if spaced else None).encode()
    for module in (finishing, PLAIN_FINISHING):
        assert module.count_entries(text) == len(entries), text
