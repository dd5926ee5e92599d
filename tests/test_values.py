"""How values are read (SPEC 3.1), parser by parser, and `parse_object` reading whole records.

Raw values are produced the way the push route produces them: by reading JSON text with
`load_json` (JSON numbers with a fraction or exponent arrive as Decimal, integers as int).
Expected values are written out literally in each test, never computed by the code under test.
"""

import subprocess
import sys
from decimal import Decimal
from typing import Any

import orjson
import pytest

from pushapi.errors import Issue
from pushapi.schema.contact import (
    CONTACT_ADDRESS,
    CONTACT_DETAILS,
    CONTACT_INFO,
    CONTACT_ORDER,
)
from pushapi.schema.fields import Record, Report, parse_object
from pushapi.schema.values import (
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
from pushapi.store.documents import load_json

REFERENCE_FORMATS = ("yyyy-MM-ddTHH:mm:ss.fffZ", "yyyy-MM-ddTHH:mm:ss.fffzzz")


def json_value(text: str) -> Any:
    """A raw value as the push route reads it from JSON text."""
    return load_json(text)


def problem_of(parse: Any, raw: Any) -> str:
    """The message of the ValueProblem that `parse(raw)` raises."""
    with pytest.raises(ValueProblem) as caught:
        parse(raw)
    return str(caught.value)


# --- string ---------------------------------------------------------------------------------


def test_string_is_kept_exactly_as_pushed():
    assert parse_string(" Ada Lovelace ", 4000) == " Ada Lovelace "


@pytest.mark.parametrize(
    ("json_text", "got"),
    [
        ("42", "a number"),
        ("4.5", "a number"),
        ("true", "a boolean"),
        ("false", "a boolean"),
        ('["Ada"]', "an array"),
        ('{"Ada": 1}', "an object"),
    ],
)
def test_string_rejects_other_json_types_saying_a_string_was_expected(json_text, got):
    message = problem_of(lambda raw: parse_string(raw, 4000), json_value(json_text))
    assert "expected a string" in message
    assert got in message


@pytest.mark.parametrize("blank", ["", " ", "   ", "\t", "\r\n", " \u00a0 "])
def test_blank_string_means_no_value(blank):
    assert parse_string(blank, 4000) is None
    assert parse_id(blank) is None


@pytest.mark.parametrize(
    ("schema", "name", "limit"),
    [
        (CONTACT_DETAILS, "FirstName", 4000),
        (CONTACT_DETAILS, "Title", 4000),
        (CONTACT_DETAILS, "Bio", 65535),
        (CONTACT_DETAILS, "ContactId", 256),
        (CONTACT_DETAILS, "ParentContactId", 256),
        (CONTACT_ORDER, "OrderId", 256),
        (CONTACT_ORDER, "ProductId", 256),
    ],
)
def test_string_length_limit_accepts_exactly_the_limit_and_rejects_one_more(schema, name, limit):
    field = schema[name]
    assert field.parse_scalar("x" * limit) == "x" * limit
    message = problem_of(field.parse_scalar, "x" * (limit + 1))
    assert f"at most {limit} characters" in message


def test_string_length_counts_characters_not_bytes():
    accented = "é" * 4000  # 8000 bytes in UTF-8
    assert CONTACT_DETAILS["FirstName"].parse_scalar(accented) == accented


@pytest.mark.parametrize("text", ["Ada\x00", "\x00", "Lovelace\x00Byron"])
def test_string_with_nul_character_is_a_problem_not_stored(text):
    assert "NUL" in problem_of(lambda raw: parse_string(raw, 4000), text)


def test_string_with_lone_surrogate_is_a_problem_not_stored():
    raw = json_value('"Ada \\ud800 Lovelace"')
    assert "surrogate" in problem_of(lambda value: parse_string(value, 4000), raw)


def test_string_with_a_surrogate_pair_is_ordinary_text():
    assert parse_string(json_value('"\\ud83d\\ude00"'), 4000) == "\U0001f600"


# --- id -------------------------------------------------------------------------------------


def test_id_is_not_trimmed():
    assert parse_id(" C-1 ") == " C-1 "


def test_ids_are_compared_exactly():
    assert parse_id("C-1") != parse_id("c-1")
    assert parse_id("C-1") != parse_id("C-1 ")


@pytest.mark.parametrize("json_text", ["42", "true", '["C-1"]'])
def test_id_must_be_a_json_string(json_text):
    assert "expected a string" in problem_of(parse_id, json_value(json_text))


# --- int ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("json_text", "expected"),
    [
        ("42", 42),
        ("-7", -7),
        ("0", 0),
        ("62.0", 62),  # a decimal that is integral
        ("-3.000", -3),
        ("1e3", 1000),  # a JSON number with an exponent, integral
        ("2.5E1", 25),
        ('"42"', 42),
        ('"+42"', 42),
        ('"-42"', -42),
        ('" 42 "', 42),
        ('"\\t-7\\n"', -7),
        ('"007"', 7),
    ],
)
def test_int_accepts_integers_integral_numbers_and_integer_strings(json_text, expected):
    value = parse_int(json_value(json_text))
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize(
    ("json_text", "got"),
    [
        ("true", "a boolean"),
        ("false", "a boolean"),
        ("1.5", "a number"),
        ("0.1", "a number"),
        ('"1.5"', "'1.5'"),
        ('"1e3"', "'1e3'"),
        ('"abc"', "'abc'"),
        ('"0x10"', "'0x10'"),
        ('"4 2"', "'4 2'"),
        ('"1_000"', "'1_000'"),
        ('"\\u0661\\u0662"', "string"),  # Arabic-Indic digits: int() would read them as 12
        ('"\\uff11\\uff12"', "string"),  # full-width digits
        ("[1]", "an array"),
        ('{"n": 1}', "an object"),
    ],
)
def test_int_rejects_non_integers_saying_an_integer_was_expected(json_text, got):
    message = problem_of(parse_int, json_value(json_text))
    assert "expected an integer" in message
    assert got in message


def test_int_blank_string_means_no_value():
    assert parse_int("  ") is None


@pytest.mark.parametrize(
    ("json_text", "expected"),
    [
        ("2147483647", 2147483647),
        ("-2147483648", -2147483648),
        ('"2147483647"', 2147483647),
        ('"-2147483648"', -2147483648),
    ],
)
def test_int_accepts_the_32_bit_range_limits(json_text, expected):
    assert parse_int(json_value(json_text)) == expected


@pytest.mark.parametrize(
    "json_text",
    ["2147483648", "-2147483649", '"2147483648"', '"-2147483649"', "3e9", '"' + "9" * 5000 + '"'],
)
def test_int_rejects_values_outside_the_32_bit_range(json_text):
    assert "-2147483648 to 2147483647" in problem_of(parse_int, json_value(json_text))


def test_int_with_a_huge_exponent_is_rejected_at_once():
    """1e999999999 is integral; building it as a Python int would take minutes and gigabytes."""
    # A child process, because that computation holds the GIL: a thread could not time out.
    script = (
        "from pushapi.schema.values import ValueProblem, parse_int\n"
        "from pushapi.store.documents import load_json\n"
        "try:\n"
        "    parse_int(load_json('1e999999999'))\n"
        "except ValueProblem as problem:\n"
        "    print(problem)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        pytest.fail("parse_int did not refuse 1e999999999 within 30 seconds")
    assert "-2147483648 to 2147483647" in done.stdout, done.stderr


def test_int_minimum_of_a_field_is_checked():
    quantity = CONTACT_ORDER["Quantity"]
    assert quantity.parse_scalar(0) == 0
    assert "at least 0" in problem_of(quantity.parse_scalar, -1)


# --- bool -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("json_text", "expected"),
    [
        ("true", True),
        ("false", False),
        ('"true"', True),
        ('"false"', False),
        ('"TRUE"', True),
        ('"False"', False),
        ('"fAlSe"', False),
        ('" true "', True),
    ],
)
def test_bool_accepts_json_booleans_and_true_false_strings_in_any_case(json_text, expected):
    assert parse_bool(json_value(json_text)) is expected


@pytest.mark.parametrize(
    "json_text", ["1", "0", "1.0", '"1"', '"0"', '"yes"', '"no"', '"t"', '"truee"', "[true]"]
)
def test_bool_rejects_numbers_and_other_words(json_text):
    assert "expected true or false" in problem_of(parse_bool, json_value(json_text))


def test_bool_blank_string_means_no_value():
    assert parse_bool(" ") is None


# --- decimal --------------------------------------------------------------------------------


def test_decimal_json_number_is_kept_digit_for_digit():
    # The nearest binary double to 0.1, written out: a float would read it back as 0.1.
    literal = "0.1000000000000000055511151231257827"
    value = parse_decimal(json_value(literal))
    assert str(value) == literal


@pytest.mark.parametrize(
    ("json_text", "expected"),
    [
        ("5", "5"),
        ("-12.50", "-12.50"),
        ("123456789012345.678901234567890", "123456789012345.678901234567890"),
        ("1.5e2", "1.5E+2"),
        ("1E-3", "0.001"),
        ('"12.50"', "12.50"),
        ('"-0.5"', "-0.5"),
        ('"+3"', "3"),
        ('".5"', "0.5"),
        ('"5."', "5"),
        ('" 7.25 "', "7.25"),
        ('"1e3"', "1E+3"),
        ('"2.5E-2"', "0.025"),
        ('"0e100"', "0"),
    ],
)
def test_decimal_accepts_numbers_numeric_strings_and_exponent_forms(json_text, expected):
    value = parse_decimal(json_value(json_text))
    assert type(value) is Decimal
    assert value == Decimal(expected)
    if "e" not in json_text.lower():
        assert str(value) == expected  # written digits, trailing zeros included, are kept


@pytest.mark.parametrize(
    ("json_text", "got"),
    [
        ('"abc"', "'abc'"),
        ('"NaN"', "'NaN'"),
        ('"Infinity"', "'Infinity'"),
        ('"-Infinity"', "'-Infinity'"),
        ('"1,5"', "'1,5'"),
        ('"0x1A"', "'0x1A'"),
        ('"1e"', "'1e'"),
        ('"e3"', "'e3'"),
        ('"\\u0661.\\u0665"', "string"),
        ("true", "a boolean"),
        ("false", "a boolean"),
        ("[1.5]", "an array"),
    ],
)
def test_decimal_rejects_what_is_not_a_finite_number(json_text, got):
    message = problem_of(parse_decimal, json_value(json_text))
    assert "expected a decimal number" in message
    assert got in message


@pytest.mark.parametrize("special", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_decimal_rejects_nan_and_infinity_even_as_decimal_objects(special):
    assert "finite" in problem_of(parse_decimal, Decimal(special))


def test_json_nan_and_infinity_are_not_numbers():
    for text in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(ValueError):
            json_value(text)


def test_decimal_accepts_38_digits_and_rejects_39():
    assert parse_decimal("9" * 38) == Decimal("9" * 38)
    assert parse_decimal("0." + "1" * 38) == Decimal("0." + "1" * 38)
    assert "at most 38 digits" in problem_of(parse_decimal, "9" * 39)
    assert "at most 38 digits" in problem_of(parse_decimal, json_value("0." + "1" * 39))
    assert "at most 38 digits" in problem_of(parse_decimal, json_value("1e39"))
    assert "at most 38 digits" in problem_of(parse_decimal, json_value("1e-39"))


@pytest.mark.parametrize(
    ("name", "inside", "outside"),
    [
        (
            "Latitude",
            ["90", "-90", "0", "89.999999", "90.000"],
            ["90.0000001", "-90.0000001", "91"],
        ),
        ("Longitude", ["180", "-180", "180.0"], ["180.0000001", "-180.0000001", "-181"]),
    ],
)
def test_latitude_and_longitude_bounds_are_inclusive(name, inside, outside):
    field = CONTACT_ADDRESS[name]
    for text in inside:
        assert field.parse_scalar(json_value(text)) == Decimal(text)
        assert field.parse_scalar(text) == Decimal(text)
    for text in outside:
        message = problem_of(field.parse_scalar, json_value(text))
        assert "at most" in message or "at least" in message


# --- DateTime -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-05-06T07:08:09.123Z", "2023-05-06T07:08:09.123Z"),
        ("2023-05-06T07:08:09.123+02:00", "2023-05-06T05:08:09.123Z"),
        ("2023-05-06T07:08:09.123-05:30", "2023-05-06T12:38:09.123Z"),
        ("2023-12-31T22:00:00.000-05:30", "2024-01-01T03:30:00.000Z"),
        ("2024-03-01T01:00:00+02:00", "2024-02-29T23:00:00.000Z"),
        ("2023-05-06T07:08:09+14:00", "2023-05-05T17:08:09.000Z"),
        ("2023-05-06T07:08:09-14:00", "2023-05-06T21:08:09.000Z"),
        ("2023-05-06T07:08:09-00:00", "2023-05-06T07:08:09.000Z"),
        ("2023-05-06t07:08:09.5z", "2023-05-06T07:08:09.500Z"),
        ("2023-05-06", "2023-05-06T00:00:00.000Z"),
        ("2024-02-29", "2024-02-29T00:00:00.000Z"),
    ],
)
def test_datetime_reference_formats_are_normalised_to_utc_milliseconds(raw, expected):
    value = parse_datetime(raw)
    assert value == expected
    assert not isinstance(value, NaiveDateTime)


@pytest.mark.parametrize(
    ("fraction", "millis"),
    [
        ("", "000"),
        (".1", "100"),
        (".12", "120"),
        (".123", "123"),
        (".1234", "123"),
        (".12345", "123"),
        (".123456", "123"),
        (".1234567", "123"),
        (".9999999", "999"),  # truncated, never rounded up into the next second
        (".0009999", "000"),
    ],
)
def test_datetime_takes_0_to_7_fractional_digits_truncated_to_milliseconds(fraction, millis):
    assert parse_datetime(f"2023-05-06T07:08:09{fraction}Z") == f"2023-05-06T07:08:09.{millis}Z"


def test_datetime_without_zone_is_utc_and_flagged_for_a_warning():
    value = parse_datetime("2023-05-06T07:08:09.25")
    assert value == "2023-05-06T07:08:09.250Z"
    assert isinstance(value, NaiveDateTime)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
        ("0001-01-01", "0001-01-01T00:00:00.000Z"),
        ("0001-01-01T00:00:00-01:00", "0001-01-01T01:00:00.000Z"),
        ("0999-05-06", "0999-05-06T00:00:00.000Z"),
        ("0050-01-01T00:00:00.123+00:00", "0050-01-01T00:00:00.123Z"),
        ("9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.999Z"),
        ("9999-12-31T23:59:59+01:00", "9999-12-31T22:59:59.000Z"),
    ],
)
def test_datetime_years_near_0001_and_9999_keep_four_digits(raw, expected):
    assert parse_datetime(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "0001-01-01T00:00:00+01:00",  # before the year 1 in UTC
        "0001-01-01T00:59:59.999+01:00",
        "9999-12-31T23:59:59-01:00",  # after the year 9999 in UTC
        "9999-12-31T23:00:00-14:00",
        "0000-01-01",
        "0000-12-31T23:00:00-02:00",
    ],
)
def test_datetime_outside_years_1_to_9999_is_an_error_not_a_crash(raw):
    message = problem_of(parse_datetime, raw)
    assert all(form in message for form in REFERENCE_FORMATS)


@pytest.mark.parametrize(
    "raw",
    [
        "2023-02-30",
        "2023-02-29T00:00:00Z",  # 2023 is not a leap year
        "2023-13-01",
        "2023-00-10",
        "2023-05-00",
        "2023-05-06T24:00:00Z",
        "2023-05-06T23:60:00Z",
        "2023-05-06T23:59:60Z",
        "2023-05-06T07:08:09+15:00",
        "2023-05-06T07:08:09+14:01",
        "2023-05-06T07:08:09+05:60",
        "2023-05-06 07:08:09Z",
        "2023-05-06T07:08:09Z trailing",
        "2023-05-06T07:08:09Zx",
        " 2023-05-06",
        "2023-05-06T07:08:09.Z",
        "2023-05-06T07:08:09.12345678Z",
        "2023-05-06T07:08Z",
        "2023-05-06T07:08:09+0200",
        "2023-05-06T07:08:09+02",
        "2023-05-06Z",
        "2023-5-6",
        "06/05/2023",
        "20230506T070809Z",
        "\uff12\uff10\uff12\uff13-05-06",  # full-width digits
        "yesterday",
    ],
)
def test_datetime_in_any_other_form_is_an_error_naming_the_accepted_formats(raw):
    message = problem_of(parse_datetime, raw)
    assert all(form in message for form in REFERENCE_FORMATS)


@pytest.mark.parametrize("json_text", ["20230506", "1683356889.5", "true", '["2023-05-06"]'])
def test_datetime_that_is_not_a_string_is_an_error_naming_the_accepted_formats(json_text):
    message = problem_of(parse_datetime, json_value(json_text))
    assert all(form in message for form in REFERENCE_FORMATS)


def test_datetime_blank_string_means_no_value():
    assert parse_datetime("") is None
    assert parse_datetime("   ") is None


# --- lists of ids ---------------------------------------------------------------------------


def test_id_list_keeps_ids_exactly_and_in_order():
    assert parse_id_list(["b", "a", " c ", "A"]) == ["b", "a", " c ", "A"]
    assert parse_id_list([]) == []


@pytest.mark.parametrize(
    ("raw", "expected_words"),
    [
        ("C-1", "expected an array of ids, got a string"),
        ({"C-1": True}, "expected an array of ids, got an object"),
        (["C-1", None], "entry 1: expected a non-blank id"),
        (["C-1", "  "], "entry 1: expected a non-blank id"),
        ([7], "entry 0: expected a string, got a number"),
        (["x" * 257], "entry 0: expected at most 256 characters"),
    ],
)
def test_id_list_problems_name_the_entry(raw, expected_words):
    assert expected_words in problem_of(parse_id_list, raw)


# --- parse_object ---------------------------------------------------------------------------


def read(raw: Any, index: int = 0) -> tuple[Record | None, Report]:
    report = Report()
    return parse_object(CONTACT_INFO, raw, index, "", report), report


def paths(issues: list[Issue]) -> list[str]:
    return [issue.path for issue in issues]


def test_property_names_match_case_insensitively():
    record, report = read(
        {
            "contactdetails": {
                "contactid": "C-1",
                "FIRSTNAME": "Ada",
                "isDeleted": False,
                "ismember": "TRUE",
            },
            "ADDRESSES": [{"latitude": "45.5", "CITY": "Paris"}],
        }
    )
    assert report.errors == [] and report.warnings == []
    assert record is not None
    details = record["ContactDetails"]
    assert (details["ContactId"], details["FirstName"]) == ("C-1", "Ada")
    assert details["IsDeleted"] is False and details["IsMember"] is True
    assert record["Addresses"][0]["Latitude"] == Decimal("45.5")
    assert record["Addresses"][0]["City"] == "Paris"


def test_record_has_every_field_in_canonical_case_and_table_order():
    record, _ = read({"contactdetails": {"CONTACTID": "C-1", "lastname": "Byron"}})
    assert record is not None
    assert list(record) == [
        "ContactDetails", "Groups", "Demographics", "Education", "JobHistory",
        "Addresses", "PhoneNumbers", "EmailAddresses", "Orders",
    ]  # fmt: skip
    details = record["ContactDetails"]
    assert list(details)[:3] == ["ContactId", "Age", "ContactType"]
    assert list(details)[-1] == "IsDeleted"
    assert details["LastName"] == "Byron" and details["FirstName"] is None


def test_unknown_properties_are_warnings_at_their_paths():
    record, report = read(
        {
            "ContactDetails": {"ContactId": "C-1", "FirstName": "Ada", "Nickname": "A"},
            "Hobbies": ["chess"],
            "Addresses": [{"City": "Paris"}, {"City": "Lyon", "Planet": "Earth"}],
        },
        index=4,
    )
    assert report.errors == []
    assert paths(report.warnings) == ["ContactDetails.Nickname", "Hobbies", "Addresses[1].Planet"]
    assert all(w.index == 4 and "unknown property" in w.message for w in report.warnings)
    assert record is not None and "Nickname" not in record["ContactDetails"]


def test_unknown_property_with_a_lone_surrogate_is_reported_in_a_path_json_can_carry():
    raw = json_value('{"ContactDetails": {"ContactId": "C-1", "LastName": "B", "X\\ud800": 1}}')
    _, report = read(raw)
    assert len(report.warnings) == 1
    orjson.dumps([w.as_json() for w in report.warnings])  # raises on a lone surrogate
    assert report.warnings[0].path.startswith("ContactDetails.X")


def test_null_means_absent():
    record, report = read(
        {
            "ContactDetails": {"ContactId": "C-1", "FirstName": "Ada", "Age": None, "Bio": None},
            "Groups": None,
            "Orders": None,
        }
    )
    assert report.errors == [] and report.warnings == []
    assert record is not None
    assert record["ContactDetails"]["Age"] is None and record["ContactDetails"]["Bio"] is None
    assert not record["Groups"] and not record["Orders"]


def test_null_required_field_is_reported_missing():
    _, report = read({"ContactDetails": {"ContactId": None, "FirstName": "Ada"}})
    assert paths(report.errors) == ["ContactDetails.ContactId"]
    assert "missing" in report.errors[0].message


def test_every_error_of_a_record_is_collected_with_its_path():
    _, report = read(
        {
            "ContactDetails": {
                "ContactId": "C-1",
                "FirstName": 5,
                "Age": "abc",
                "Birthday": "2023-02-30",
                "IsMember": "yes",
            },
            "Addresses": [{"Latitude": 10}, {"Latitude": json_value("90.5"), "Longitude": "x"}],
            "Orders": [{"OrderId": "O-1", "ProductId": "P-1", "Quantity": 1.5}],
        },
        index=2,
    )
    assert sorted(paths(report.errors)) == sorted(
        [
            "ContactDetails.FirstName",
            "ContactDetails.Age",
            "ContactDetails.Birthday",
            "ContactDetails.IsMember",
            "Addresses[1].Latitude",
            "Addresses[1].Longitude",
            "Orders[0].Quantity",
        ]
    )
    assert {issue.index for issue in report.errors} == {2}
    by_path = {issue.path: issue.message for issue in report.errors}
    assert "expected a string" in by_path["ContactDetails.FirstName"]
    assert "expected an integer" in by_path["ContactDetails.Age"]
    assert all(form in by_path["ContactDetails.Birthday"] for form in REFERENCE_FORMATS)
    assert "expected true or false" in by_path["ContactDetails.IsMember"]
    assert "at most 90" in by_path["Addresses[1].Latitude"]


def test_required_field_that_failed_to_parse_is_reported_once():
    _, report = read({"ContactDetails": {"ContactId": 42, "LastName": "Byron"}})
    assert paths(report.errors) == ["ContactDetails.ContactId"]
    assert "expected a string" in report.errors[0].message


def test_required_object_of_the_wrong_type_is_reported_once():
    _, report = read({"ContactDetails": [{"ContactId": "C-1"}]})
    assert paths(report.errors) == ["ContactDetails"]
    assert "expected a ContactDetails object, got an array" in report.errors[0].message


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        ({"Groups": {"GroupId": "G-1"}}, "Groups", "expected an array of ContactGroup objects"),
        ({"Addresses": "Paris"}, "Addresses", "expected an array of ContactAddress objects"),
        ({"Addresses": [{"City": "Paris"}, "Lyon"]}, "Addresses[1]", "expected a ContactAddress"),
        ({"Orders": [None]}, "Orders[0]", "expected a ContactProductOrder object"),
        ({"Groups": [["G-1"]]}, "Groups[0]", "expected a ContactGroup object, got an array"),
    ],
)
def test_wrong_container_types_are_errors_at_their_paths(raw, path, words):
    _, report = read({"ContactDetails": {"ContactId": "C-1", "LastName": "B"}, **raw})
    assert paths(report.errors) == [path]
    assert words in report.errors[0].message


def test_required_field_of_a_nested_entry_is_reported_at_its_path():
    _, report = read(
        {
            "ContactDetails": {"ContactId": "C-1", "LastName": "B"},
            "EmailAddresses": [{"EmailAddress": "a@example.org"}, {"EmailType": "work"}],
        }
    )
    assert paths(report.errors) == ["EmailAddresses[1].EmailAddress"]


def test_missing_contact_details_is_one_error():
    _, report = read({"Groups": []})
    assert paths(report.errors) == ["ContactDetails"]
    assert "missing" in report.errors[0].message


def test_datetime_without_zone_is_a_warning_at_its_path_and_stored_as_utc():
    record, report = read(
        {
            "ContactDetails": {"ContactId": "C-1", "LastName": "B", "Birthday": "1990-01-02T03:04"},
            "Groups": [{"GroupId": "G-1", "BeginDate": "2020-01-01T00:00:00"}],
        }
    )
    assert paths(report.errors) == ["ContactDetails.Birthday"]  # minutes without seconds
    assert paths(report.warnings) == ["Groups[0].BeginDate"]
    assert "UTC" in report.warnings[0].message
    assert record is not None
    begin = record["Groups"][0]["BeginDate"]
    assert begin == "2020-01-01T00:00:00.000Z" and type(begin) is str


def test_date_alone_needs_no_warning():
    record, report = read({"ContactDetails": {"ContactId": "C-1", "LastName": "B",
                                              "MemberSince": "2020-05-06"}})  # fmt: skip
    assert report.warnings == [] and report.errors == []
    assert record is not None
    assert record["ContactDetails"]["MemberSince"] == "2020-05-06T00:00:00.000Z"


def test_record_that_is_not_an_object_is_an_error():
    record, report = read(["ContactDetails"], index=7)
    assert record is None
    assert [(i.index, i.path) for i in report.errors] == [(7, "(record)")]


def test_unknown_property_with_an_empty_name_has_a_visible_path():
    _, report = read({"ContactDetails": {"ContactId": "C-1", "LastName": "B", "": 1}, "": 2})
    assert sorted(paths(report.warnings)) == ['""', 'ContactDetails.""']


def test_rule_over_other_fields_still_runs_when_an_unrelated_field_fails():
    """SPEC 3: every error found, so a bad Age does not hide a missing OrganizationName."""
    report = Report()
    raw = {"ContactId": "C200", "IsOrganization": True, "Age": "forty"}
    parse_object(CONTACT_DETAILS, raw, 0, "ContactDetails", report)
    paths = sorted(issue.path for issue in report.errors)
    assert paths == ["ContactDetails.Age", "ContactDetails.OrganizationName"]


def test_rule_is_skipped_when_a_field_it_reads_failed():
    """A rule never judges a value that failed to parse (IsOrganization here)."""
    report = Report()
    raw = {"ContactId": "C201", "IsOrganization": "maybe"}
    parse_object(CONTACT_DETAILS, raw, 0, "ContactDetails", report)
    assert [issue.path for issue in report.errors] == ["ContactDetails.IsOrganization"]


@pytest.mark.parametrize(
    "text", ["6.9E90499507331944059250", "1e-99999999999999999999", " 1E999999999999999999 "]
)
def test_decimal_strings_with_exponents_past_what_decimal_holds_are_refused_not_500(text):
    assert "at most 38 digits" in problem_of(parse_decimal, text)


def test_a_decimal_string_with_a_huge_exponent_is_a_400_naming_the_field(client, tenant):
    record = {"ProductId": "p", "ProductName": "P", "Price": "6.90237103E90499507331944059250"}
    response = client.post("/v2/product", json=[record], headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["path"] == "Price"
