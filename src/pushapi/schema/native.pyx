# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled reader's value rules in native code (built from this Cython source at install).

Each is the exact twin of Python code that stays the reference:
- `millis_zoned`: `values.millis_zoned`, the normal form of `yyyy-MM-ddTHH:mm:ss.fff` with `Z` or
  an offset, or None to leave the value to the general path;
- `plausible_email`: a full match of `values.EMAIL`, the e-mail addresses taken without a warning;
- `Finisher`: the per-object function `compiled._finisher` generates, driven by a plan that
  `compiled` builds from the same field table.
They return what the Python code returns, or decline where it declines; tests/test_native.py and
tests/test_compiled_reader.py compare them. Without a C compiler the package installs without this
module and the Python code runs.
"""

from cpython.unicode cimport (
    PyUnicode_AsUTF8AndSize,
    PyUnicode_FromStringAndSize,
    PyUnicode_GET_LENGTH,
    PyUnicode_READ_CHAR,
    Py_UNICODE_ISSPACE,
)


from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.tuple cimport PyTuple_GET_ITEM

from msgspec.structs import astuple


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)
    dict _PyDict_NewPresized(Py_ssize_t minused)


# The kinds of field in a plan, by the names compiled.py gives them.
cdef enum:
    STRING, BOOL, DATETIME, INT, DECIMAL, ID_LIST, OBJECT, OBJECT_LIST

KINDS = {
    "string": STRING, "bool": BOOL, "datetime": DATETIME, "int": INT, "decimal": DECIMAL,
    "id_list": ID_LIST, "object": OBJECT, "object_list": OBJECT_LIST,
}
cdef int _MAX_OFFSET_MINUTES = 14 * 60
cdef long long _INT_MIN = -(2 ** 31)
cdef long long _INT_MAX = 2 ** 31 - 1
# A JSON number of at most this many characters and no exponent has at most 38 digits.
cdef Py_ssize_t _SHORT_NUMBER = 38


cdef inline bint _is_leap(int year) noexcept:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


cdef inline int _days_in(int month, int year) noexcept:
    if month == 2:
        return 29 if _is_leap(year) else 28
    if month == 4 or month == 6 or month == 9 or month == 11:
        return 30
    return 31


cdef inline int _two(const char* s, Py_ssize_t at) noexcept:
    """The value of two ASCII digits at `at`, or -1 when either is not a digit."""
    cdef char a = s[at], b = s[at + 1]
    if a < 48 or a > 57 or b < 48 or b > 57:
        return -1
    return (a - 48) * 10 + (b - 48)


cdef inline void _put_two(char* out, Py_ssize_t at, int value) noexcept:
    out[at] = <char>(48 + value // 10)
    out[at + 1] = <char>(48 + value % 10)


cpdef object millis_zoned(str raw):
    """The normal form of a DateTime written yyyy-MM-ddTHH:mm:ss.fff with Z or +hh:mm, or None.

    None leaves the value to the general path, which also explains what is wrong.
    """
    cdef Py_ssize_t length = PyUnicode_GET_LENGTH(raw)
    if (length != 24 and length != 29) or not PyUnicode_IS_ASCII(raw):
        return None
    cdef const char* s = PyUnicode_AsUTF8AndSize(raw, &length)
    cdef int high = _two(s, 0), low = _two(s, 2)
    cdef int month = _two(s, 5), day = _two(s, 8)
    cdef int hour = _two(s, 11), minute = _two(s, 14), second = _two(s, 17)
    if (
        high < 0 or low < 0 or month < 1 or month > 12 or day < 1 or day > 31
        or hour < 0 or hour > 23 or minute < 0 or minute > 59 or second < 0 or second > 59
        or s[4] != b'-' or s[7] != b'-' or s[10] != b'T' or s[13] != b':' or s[16] != b':'
        or s[19] != b'.' or _two(s, 20) < 0 or s[22] < 48 or s[22] > 57
    ):
        return None
    cdef int year = high * 100 + low
    if year == 0 or day > _days_in(month, year):
        return None
    if length == 24:
        return raw if s[23] == b'Z' else None
    cdef int zone_hours = _two(s, 24), zone_minutes = _two(s, 27)
    if (s[23] != b'+' and s[23] != b'-') or zone_hours < 0 or s[26] != b':' or zone_minutes < 0:
        return None
    if zone_minutes > 59 or zone_hours * 60 + zone_minutes > _MAX_OFFSET_MINUTES:
        return None  # the general path refuses it, with its message
    cdef int offset = zone_hours * 60 + zone_minutes
    if s[23] == b'-':
        offset = -offset
    cdef int minutes = hour * 60 + minute - offset
    if minutes < 0:
        minutes += 24 * 60
        day -= 1
        if day == 0:
            month -= 1
            if month == 0:
                month = 12
                year -= 1
                if year == 0:
                    return None  # before the year 1 in UTC
            day = _days_in(month, year)
    elif minutes >= 24 * 60:
        minutes -= 24 * 60
        day += 1
        if day > _days_in(month, year):
            day = 1
            month += 1
            if month == 13:
                month = 1
                year += 1
                if year == 10000:
                    return None  # after 9999 in UTC
    cdef char out[24]
    _put_two(out, 0, year // 100)
    _put_two(out, 2, year % 100)
    out[4] = b'-'
    _put_two(out, 5, month)
    out[7] = b'-'
    _put_two(out, 8, day)
    out[10] = b'T'
    _put_two(out, 11, minutes // 60)
    out[13] = b':'
    _put_two(out, 14, minutes % 60)
    cdef Py_ssize_t at
    for at in range(16, 23):  # ":ss.fff" as pushed
        out[at] = s[at]
    out[23] = b'Z'
    return PyUnicode_FromStringAndSize(out, 24)


cpdef bint plausible_email(str text):
    """Whether `text` is something@something.tld without spaces: a full match of
    `[^@\\s]+@[^@\\s]+\\.[^@\\s]+`, where \\s is what str.isspace() calls space."""
    cdef Py_ssize_t length = PyUnicode_GET_LENGTH(text), at = -1, position
    cdef Py_UCS4 char
    for position in range(length):
        char = PyUnicode_READ_CHAR(text, position)
        if char == 64:  # '@'
            if at >= 0:
                return False
            at = position
        elif Py_UNICODE_ISSPACE(char):
            return False
    if at < 1:
        return False  # no '@', or nothing before it
    # After the '@': a '.' with at least one character on each side.
    for position in range(at + 2, length - 1):
        if PyUnicode_READ_CHAR(text, position) == 46:  # '.'
            return True
    return False


cdef inline bint _blank(str text):
    """Whether a string is empty or only white space (SPEC 3.1: no value)."""
    if PyUnicode_GET_LENGTH(text) == 0:
        return True
    # str.isspace() is the reference; a first character that is not space settles it at once.
    return Py_UNICODE_ISSPACE(PyUnicode_READ_CHAR(text, 0)) and text.isspace()


cdef class Finisher:
    """Finishes reading one msgspec struct of an object into its record, or raises `declined`.

    The plan is built by compiled.py from the field table, field by field in table order:
    (name, kind, extra), where extra is the Finisher of a nested object, the Field of a number,
    else None. `needed` holds (position, whether a deletion excuses it); `rules` the checks that
    involve several fields (a check that yields anything declines).
    """

    cdef tuple names
    cdef tuple kinds
    cdef tuple extras
    cdef tuple needed
    cdef Py_ssize_t deletion
    cdef tuple rules
    cdef object declined
    cdef object datetime
    cdef object number
    cdef object decimal

    def __init__(
        self, tuple fields, tuple needed, Py_ssize_t deletion, tuple rules, declined, datetime,
        number, decimal,
    ):
        self.names = tuple(name for name, _, _ in fields)
        self.kinds = tuple(kind for _, kind, _ in fields)
        self.extras = tuple(extra for _, _, extra in fields)
        self.needed = needed
        self.deletion = deletion
        self.rules = rules
        self.declined = declined
        self.datetime = datetime  # the Python path for DateTimes not in the usual form
        self.number = number  # the Python path for numbers not in the usual form
        self.decimal = decimal

    def __call__(self, obj):
        return self.finish(obj)

    cdef object finish(self, object obj):
        cdef tuple pushed = astuple(obj)  # the field values, in table order, read in C
        cdef Py_ssize_t position, count = len(self.names)
        cdef dict record = _PyDict_NewPresized(count)
        cdef int kind
        cdef object value, extra, item, result
        cdef list items
        for position in range(count):
            value = <object>PyTuple_GET_ITEM(pushed, position)
            if value is not None:
                kind = self.kinds[position]
                if kind == STRING:
                    if _blank(<str>value):
                        value = None
                elif kind == DATETIME:
                    result = millis_zoned(<str>value)
                    value = self.datetime(value) if result is None else result
                elif kind == INT or kind == DECIMAL:
                    value = self._number(self.extras[position], value)
                elif kind == ID_LIST:
                    for item in <list>value:
                        if _blank(<str>item):
                            raise self.declined
                elif kind == OBJECT:
                    value = (<Finisher>self.extras[position]).finish(value)
                elif kind == OBJECT_LIST:
                    extra = self.extras[position]
                    items = []
                    for item in <list>value:
                        items.append((<Finisher>extra).finish(item))
                    value = items
            PyDict_SetItem(record, self.names[position], value)
        cdef bint deleted = False
        if self.deletion >= 0:
            deleted = <object>PyDict_GetItem(record, self.names[self.deletion]) is True
        cdef bint excused
        for position, excused in self.needed:
            if <object>PyDict_GetItem(record, self.names[position]) is None and not (
                excused and deleted
            ):
                raise self.declined
        for rule in self.rules:
            for _ in rule(record):
                raise self.declined
        return record

    cdef object _number(self, object spec, object value):
        """A number as json.loads reads it (int, or Decimal for a fraction), within limits."""
        cdef bytes text
        cdef Py_ssize_t length
        cdef object minimum, maximum
        if type(value) is int:
            if spec.minimum is None and _INT_MIN <= value <= _INT_MAX:
                return value
            return self.number(spec, value)
        text = bytes(value)  # msgspec.Raw: the exact JSON text of a decimal field
        if text == b"null":
            return None
        length = len(text)
        if (
            0 < length <= _SHORT_NUMBER
            and (text[0] == 45 or 48 <= text[0] <= 57)  # '-' or a digit
            and b"e" not in text and b"E" not in text
        ):
            # The usual case, with no digit limit to check: as json.loads reads it, an integer
            # literal is an int and anything else a Decimal (an int becomes Decimal(int)).
            value = self.decimal(text.decode()) if b"." in text else self.decimal(int(text))
            minimum = spec.minimum
            maximum = spec.maximum
            if (minimum is not None and value < minimum) or (
                maximum is not None and value > maximum
            ):
                raise self.declined
            return value
        return self.number(spec, value)
