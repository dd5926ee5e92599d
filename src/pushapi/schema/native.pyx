# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The usual DateTime form in native code, hand-written (built from this Cython source at install).

`millis_zoned` is the exact twin of `values.millis_zoned`, which stays the reference: the normal
form of `yyyy-MM-ddTHH:mm:ss.fff` or `yyyy-MM-ddTHH:mm:ss` with `Z` or an offset, or None to leave the value to the
general path. It runs for most DateTimes of every push, where string operations in Python cost a
fifth of the reader's time (docs/architecture.md, "Native code"). tests/test_native.py compares
the two. Without a C compiler the package installs without this module and the Python code runs.
"""

from cpython.unicode cimport (
    PyUnicode_AsUTF8AndSize,
    PyUnicode_FromStringAndSize,
    PyUnicode_GET_LENGTH,
)


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)


cdef int _MAX_OFFSET_MINUTES = 14 * 60


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
    """The normal form of a DateTime written yyyy-MM-ddTHH:mm:ss.fff or yyyy-MM-ddTHH:mm:ss with Z
    or +hh:mm, or None.

    None leaves the value to the general path, which also explains what is wrong.
    """
    cdef Py_ssize_t length = PyUnicode_GET_LENGTH(raw)
    if length != 20 and length != 24 and length != 25 and length != 29:
        return None
    if not PyUnicode_IS_ASCII(raw):
        return None
    cdef const char* s = PyUnicode_AsUTF8AndSize(raw, &length)
    # Without the milliseconds, the zone starts where their "." would be.
    cdef bint whole = length == 20 or length == 25
    cdef Py_ssize_t zone = 19 if whole else 23
    cdef int high = _two(s, 0), low = _two(s, 2)
    cdef int month = _two(s, 5), day = _two(s, 8)
    cdef int hour = _two(s, 11), minute = _two(s, 14), second = _two(s, 17)
    if (
        high < 0 or low < 0 or month < 1 or month > 12 or day < 1 or day > 31
        or hour < 0 or hour > 23 or minute < 0 or minute > 59 or second < 0 or second > 59
        or s[4] != b'-' or s[7] != b'-' or s[10] != b'T' or s[13] != b':' or s[16] != b':'
    ):
        return None
    if not whole and (s[19] != b'.' or _two(s, 20) < 0 or s[22] < 48 or s[22] > 57):
        return None
    cdef int year = high * 100 + low
    if year == 0 or day > _days_in(month, year):
        return None
    cdef int offset = 0, zone_hours, zone_minutes
    if length == zone + 1:
        if s[zone] != b'Z':
            return None
        if not whole:
            return raw
    elif length != zone + 6:
        return None
    else:
        zone_hours = _two(s, zone + 1)
        zone_minutes = _two(s, zone + 4)
        if (
            (s[zone] != b'+' and s[zone] != b'-') or zone_hours < 0 or s[zone + 3] != b':'
            or zone_minutes < 0
        ):
            return None
        if zone_minutes > 59 or zone_hours * 60 + zone_minutes > _MAX_OFFSET_MINUTES:
            return None  # the general path refuses it, with its message
        offset = zone_hours * 60 + zone_minutes
        if s[zone] == b'-':
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
    for at in range(16, 19):  # ":ss" as pushed
        out[at] = s[at]
    for at in range(19, 23):  # ".fff" as pushed, or ".000"
        out[at] = (b'.' if at == 19 else b'0') if whole else s[at]
    out[23] = b'Z'
    return PyUnicode_FromStringAndSize(out, 24)
