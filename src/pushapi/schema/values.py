"""How pushed values are read: the value rules of SPEC 3.1, one parser per kind of field.

A parser takes the raw JSON value (never None: null means absent and is handled by the caller)
and returns the normalised value, or raises `ValueProblem` with what was expected. Blank strings
mean "no value" and come back as None.
"""

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any


class ValueProblem(Exception):
    """A value that does not have the form its field expects."""


class NaiveDateTime(str):
    """A normalised DateTime that was pushed without a zone and so was read as UTC (a warning)."""


class Kind(Enum):
    """The kinds of field values, with the name integrators see in docs and messages."""

    ID = "id"
    STRING = "string"
    INT = "int"
    BOOL = "bool"
    DECIMAL = "decimal"
    DATETIME = "DateTime"
    ID_LIST = "list of ids"
    OBJECT = "object"
    OBJECT_LIST = "list of objects"


ID_MAX_LENGTH = 256
STRING_MAX_LENGTH = 4000
LONG_TEXT_MAX_LENGTH = 65535
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
DECIMAL_MAX_DIGITS = 38
MAX_OFFSET_MINUTES = 14 * 60  # .NET's DateTimeOffset takes offsets from -14:00 to +14:00
DATETIME_FORMATS = (
    "yyyy-MM-ddTHH:mm:ss.fffZ or yyyy-MM-ddTHH:mm:ss.fffzzz (0-7 fractional digits), "
    "or a date yyyy-MM-dd"
)

# The accepted forms of values written as strings, as regular expressions (Python's and, in the
# OpenAPI document, JSON Schema's: both read these the same way).
DATETIME_PATTERN = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,7}))?([Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
)
INTEGER_PATTERN = r"[+-]?[0-9]+"
DECIMAL_PATTERN = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
BOOL_PATTERN = r"[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]"
# What str.isspace() calls white space (blank strings are no value, SPEC 3.1), as a character
# class: JSON Schema's \s is another set.
SPACE_CLASS = "[\t\n\x0b\x0c\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

# [0-9], not \d: a bare \d also matches the digits of other scripts ("٢٠٢٣"), which int() takes.
_DATETIME = re.compile(DATETIME_PATTERN)
# The form AMS exports and read-backs use: milliseconds and a zone. The pattern checks each field's
# range (month 01-12, hour 00-23, ...), leaving only the length of the month to check.
_MILLIS_ZONED = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}(?:Z|[+-]\d{2}:\d{2})",
    re.ASCII,
)
_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # a leap year's
_INTEGER = re.compile(INTEGER_PATTERN)
_DECIMAL = re.compile(DECIMAL_PATTERN)


def describe_json(raw: Any) -> str:
    """Name the JSON type of a raw value for a message: "a number", "an array", ..."""
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, int | float | Decimal):
        return "a number"
    if isinstance(raw, str):
        return "a string"
    if isinstance(raw, list):
        return "an array"
    if isinstance(raw, dict) or type(raw).__name__ == "Pairs":
        return "an object"
    return type(raw).__name__


def _is_unicode_text(text: str) -> bool:
    """False when `text` holds a lone surrogate, which JSON's \\ud800 escapes can produce."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_string(raw: Any, max_length: int) -> str | None:
    """A JSON string of at most `max_length` characters; blank means none."""
    if type(raw) is not str:
        raise ValueProblem(f"expected a string, got {describe_json(raw)}")
    if not raw or raw.isspace():
        return None
    if len(raw) > max_length:
        raise ValueProblem(f"expected at most {max_length} characters, got {len(raw)}")
    # JSON can escape both, but neither can be stored: PostgreSQL text refuses NUL and a lone
    # surrogate is not Unicode. Refused here, they are a 400 naming the field, not a 500 later.
    if "\x00" in raw:
        raise ValueProblem("expected text without NUL (\\u0000) characters")
    if not raw.isascii() and not _is_unicode_text(raw):
        raise ValueProblem("expected Unicode text, got a lone surrogate (\\ud800-\\udfff)")
    return raw


def parse_id(raw: Any) -> str | None:
    """An id: a string of at most 256 characters, compared exactly (not trimmed)."""
    return parse_string(raw, ID_MAX_LENGTH)


def parse_int(raw: Any) -> int | None:
    """A JSON integer or an integer string, within the 32-bit range of the reference."""
    value: int | Decimal
    if type(raw) is int:
        value = raw
    elif type(raw) is Decimal and raw.is_finite() and raw == raw.to_integral_value():
        value = raw  # a JSON number with a fraction or exponent that is integral: 62.0, 1e3
    elif type(raw) is str:
        text = raw.strip()
        if not text:
            return None
        if not _INTEGER.fullmatch(text):
            raise ValueProblem(f"expected an integer, got the string {raw[:40]!r}")
        value = Decimal(text)  # not int(text), which refuses strings of over 4300 digits
    else:
        raise ValueProblem(f"expected an integer, got {describe_json(raw)}")
    # The range is checked before int(), which would build a huge integer from 1e999999999.
    if not INT_MIN <= value <= INT_MAX:
        raise ValueProblem(f"expected an integer from {INT_MIN} to {INT_MAX}")
    return int(value)


def parse_bool(raw: Any) -> bool | None:
    """JSON true/false, or the strings "true"/"false" in any letter case."""
    if raw is True or raw is False:
        return bool(raw)
    if type(raw) is str:
        text = raw.strip().lower()
        if text == "true":
            return True
        if text == "false":
            return False
        if not text:
            return None
        raise ValueProblem(f"expected true or false, got the string {raw[:40]!r}")
    raise ValueProblem(f"expected true or false, got {describe_json(raw)}")


def parse_decimal(raw: Any) -> Decimal | None:
    """A JSON number or numeric string, kept exactly as a Decimal."""
    if type(raw) is Decimal:
        value = raw
    elif type(raw) is int:
        value = Decimal(raw)
    elif type(raw) is str:
        text = raw.strip()
        if not text:
            return None
        if not _DECIMAL.fullmatch(text):
            raise ValueProblem(f"expected a decimal number, got the string {raw[:40]!r}")
        try:
            value = Decimal(text)
        except ArithmeticError:  # an exponent past what Decimal holds: "1E99999999999999999999"
            raise ValueProblem(
                f"expected a decimal of at most {DECIMAL_MAX_DIGITS} digits"
            ) from None
    else:
        raise ValueProblem(f"expected a decimal number, got {describe_json(raw)}")
    if not value.is_finite():
        raise ValueProblem(f"expected a finite decimal number, got {value}")
    if value.is_zero():
        return value  # 0e100 is zero, not a number of 100 digits
    digits = value.as_tuple().digits
    if len(digits) > DECIMAL_MAX_DIGITS or abs(value.adjusted()) > DECIMAL_MAX_DIGITS:
        raise ValueProblem(f"expected a decimal of at most {DECIMAL_MAX_DIGITS} digits")
    return value


def format_datetime(moment: datetime) -> str:
    """Format an aware datetime as the API reads it back: UTC `yyyy-MM-ddTHH:mm:ss.fffZ`."""
    utc = moment.astimezone(UTC)
    # Not strftime("%Y"), which glibc writes as "1" for the year 1, not "0001".
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def parse_datetime(raw: Any) -> str | None:
    """A DateTime in one of the reference's formats, normalised to UTC with milliseconds.

    Digits past the millisecond are dropped, as .NET's "fff" format drops them, so that a value
    read back and pushed again is the same value. A date-time without a zone is taken as UTC and
    comes back as a `NaiveDateTime`, for which the caller warns.
    """
    if type(raw) is not str:
        raise ValueProblem(
            f"expected a DateTime string ({DATETIME_FORMATS}), got {describe_json(raw)}"
        )
    if not raw or raw.isspace():
        return None
    normalised = fast_millis_zoned(raw)
    if normalised is not None:
        return normalised
    match = _DATETIME.fullmatch(raw)
    if match is None:
        raise ValueProblem(f"expected a DateTime ({DATETIME_FORMATS}), got {raw[:40]!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        if hour is None:
            datetime(int(year), int(month), int(day))  # a real date?
            return f"{year}-{month}-{day}T00:00:00.000Z"
        millis = (fraction or "").ljust(3, "0")[:3]
        wall = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        if zone is None or zone in "Zz":
            # Already UTC: the text is its own normal form once the date is known to be real.
            text = f"{year}-{month}-{day}T{hour}:{minute}:{second}.{millis}Z"
        else:
            offset = _offset(zone)
            minutes = wall.hour * 60 + wall.minute - offset
            if 0 <= minutes < 24 * 60:  # the same day in UTC: no date arithmetic
                text = f"{year}-{month}-{day}T{minutes // 60:02d}:{minutes % 60:02d}:{second}"
            else:
                utc = wall - timedelta(minutes=offset)
                text = (
                    f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
                    f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
                )
            text = f"{text}.{millis}Z"
    except (ValueError, OverflowError):
        # SPEC 3.1: every refused DateTime is answered with the accepted formats.
        raise ValueProblem(
            f"not a real date and time: {raw[:40]!r}; expected {DATETIME_FORMATS}"
        ) from None
    return NaiveDateTime(text) if zone is None else text


_ZONE_STARTS = ("Z", "+", "-")


def millis_zoned(raw: str) -> str | None:
    """The normal form of a DateTime written yyyy-MM-ddTHH:mm:ss.fff with Z or +hh:mm, in a few
    string operations; None leaves it to the general path (which also explains what is wrong):
    another form, a day the month does not have, the year 0, an offset not met yet, or a
    moment on another day in UTC. Without milliseconds (yyyy-MM-ddTHH:mm:ss with Z or +hh:mm),
    as if they were .000."""
    if len(raw) in (20, 25) and raw[19:20] in _ZONE_STARTS:
        raw = f"{raw[:19]}.000{raw[19:]}"
    if not _MILLIS_ZONED.fullmatch(raw):
        return None
    if raw[8] == "3" or raw[8:10] == "29":  # a day some months do not have
        month = int(raw[5:7])
        day = int(raw[8:10])
        if day > _DAYS_IN_MONTH[month] or (month == 2 and not calendar.isleap(int(raw[:4]))):
            return None
    if raw[:4] == "0000":
        return None
    if raw[23] == "Z":
        return raw
    shifted = _UTC_TIMES.get(raw[11:16] + raw[23:])
    if shifted is None:
        offset = _OFFSETS.get(raw[23:])
        if offset is None:
            return None
        days, minutes = divmod(int(raw[11:13]) * 60 + int(raw[14:16]) - offset, 24 * 60)
        shifted = days, f"{minutes // 60:02d}:{minutes % 60:02d}"
        if len(_UTC_TIMES) >= _UTC_TIMES_SIZE:
            _UTC_TIMES.clear()
        _UTC_TIMES[raw[11:16] + raw[23:]] = shifted
    days, hours_minutes = shifted
    if days == 0:
        return f"{raw[:11]}{hours_minutes}{raw[16:23]}Z"
    try:
        moved = date(int(raw[:4]), int(raw[5:7]), int(raw[8:10])) + timedelta(days=days)
    except OverflowError:
        return None  # before the year 1 or after 9999 in UTC
    return f"{moved.year:04d}-{moved.month:02d}-{moved.day:02d}T{hours_minutes}{raw[16:23]}Z"


fast_millis_zoned = millis_zoned
try:  # the same function as hand-written native code, built at install (schema/native.pyx)
    from pushapi.schema import native

    fast_millis_zoned = native.millis_zoned
except ImportError:  # pragma: no cover - installed without a C compiler
    pass


# The UTC hour and minute (and day shift) of a local "HH:mm" at an offset, by "HH:mm+hh:mm":
# 1,440 per offset in use, bounded in case of many offsets.
_UTC_TIMES: dict[str, tuple[int, str]] = {}
_UTC_TIMES_SIZE = 100_000
_OFFSETS: dict[str, int] = {}


def _offset(zone: str) -> int:
    """A zone offset "+hh:mm" in minutes east of UTC (ValueError when out of range)."""
    offset = _OFFSETS.get(zone)
    if offset is None:
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if minutes > 59 or hours * 60 + minutes > MAX_OFFSET_MINUTES:
            raise ValueError("offset out of range")
        offset = (-1 if zone[0] == "-" else 1) * (hours * 60 + minutes)
        _OFFSETS[zone] = offset  # at most 2 * 14 * 60 of them
    return offset


def parse_id_list(raw: Any) -> list[str]:
    """A JSON array of ids (blank or null entries are problems, not silently dropped)."""
    if type(raw) is not list:
        raise ValueProblem(f"expected an array of ids, got {describe_json(raw)}")
    ids: list[str] = []
    for position, item in enumerate(raw):
        try:
            value = parse_id(item) if item is not None else None
        except ValueProblem as problem:
            raise ValueProblem(f"entry {position}: {problem}") from None
        if value is None:
            raise ValueProblem(f"entry {position}: expected a non-blank id")
        ids.append(value)
    return ids
