"""The compiled reader's finishing: one msgspec struct, whose JSON types msgspec has checked,
made into the record parse_object would read, or declined.

The value rules JSON types cannot express are applied here: blank strings are no value, the
usual DateTime form is shifted to UTC, decimals are read exactly within their limits, required
fields and rules over several fields are checked. Whatever needs an explanation is declined, and
parse_object then reads the record and explains (an accelerator never judges).

This is the one source. `pip install` compiles it with Cython in pure-Python mode (the
annotations with `cython.` types are only read by Cython); without a C compiler it runs as it is,
with the same results (tests/test_compiled_reader.py compares both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from msgspec import Raw
from msgspec.structs import astuple

try:
    import cython  # Cython's pure-Python mode: read when this file is compiled
except ModuleNotFoundError:  # pragma: no cover - run as plain Python, without Cython installed
    from pushapi import cython_shim as cython

# A JSON number of at most this many characters and no exponent has at most 38 digits.
SHORT_NUMBER = 38
_NUMBER_START = b"-0123456789"
# A rule over several fields: yields (field, message) for each problem; any problem declines.
RuleCheck = Callable[[dict[str, Any]], Iterable[tuple[str, str]]]


class Absent:
    """The value msgspec gives a field its record leaves out (an explicit null is None)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent()
# The same for a decimal field, read as its exact JSON text (an explicit null is another object).
ABSENT_NUMBER = Raw(b"null")


class Declined(Exception):
    """The record is not in the form the compiled reader takes; parse_object reads it."""


@cython.cclass
class Tally:
    """How many properties the objects of one record gave, and how many string values they
    held, counted while they are finished: compiled.py compares them with the quotes in the
    record's bytes, so that a name given twice in one object (msgspec keeps the last) shows as
    a difference, and parse_object reads the record and warns about it."""

    given: cython.Py_ssize_t
    strings: cython.Py_ssize_t

    def __init__(self) -> None:
        self.given = 0
        self.strings = 0

    def reset(self) -> None:
        self.given = 0
        self.strings = 0

    def quotes(self) -> int:
        """The quotes the record's JSON holds, escaped ones aside: two per name and per string."""
        return int(2 * (self.given + self.strings))


@cython.cfunc
@cython.inline
def _blank(text: str) -> cython.bint:
    """SPEC 3.1: an empty string, or only white space, is no value."""
    if len(text) == 0:
        return True
    first: cython.Py_UCS4 = text[0]  # a first character that is not space settles it at once
    return first.isspace() and text.isspace()


def unescaped_quotes(text: bytes) -> int:
    """The quotes of a JSON text that open or close a name or a string (a quote escaped inside a
    string aside): one pass over the bytes, in C when compiled."""
    quotes: cython.Py_ssize_t = 0
    escaped: cython.bint = False
    byte: cython.uchar
    for byte in text:
        if escaped:
            escaped = False  # the character after a backslash is escaped, a backslash too
        elif byte == 92:  # a backslash
            escaped = True
        elif byte == 34:  # a quote
            quotes += 1
    return int(quotes)


def count_entries(text: bytes) -> int:
    """The entries of a JSON array (its valid text), counted in one pass without building them:
    the commas outside strings at the array's own depth, plus one unless it is empty."""
    depth: cython.Py_ssize_t = 0
    commas: cython.Py_ssize_t = 0
    in_string: cython.bint = False
    escaped: cython.bint = False
    empty: cython.bint = True
    byte: cython.uchar
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 92:  # a backslash
                escaped = True
            elif byte == 34:  # the closing quote
                in_string = False
            continue
        if byte == 32 or byte == 9 or byte == 10 or byte == 13:  # white space between tokens
            continue
        if depth == 1:
            empty = empty and byte == 93  # anything but the closing bracket is an entry
            if byte == 44:  # a comma between two entries of the array
                commas += 1
        if byte == 34:
            in_string = True
        elif byte == 91 or byte == 123:  # [ {
            depth += 1
        elif byte == 93 or byte == 125:  # ] }
            depth -= 1
    return 0 if empty else int(commas + 1)


@cython.cclass
class Step:
    """How one field's value, as msgspec read it, is finished (the value is never None)."""

    @cython.ccall
    def finish(self, value: object) -> object:
        return value


@cython.cclass
class Text(Step):
    """Strings and ids: blank is no value (SPEC 3.1)."""

    @cython.ccall
    def finish(self, value: object) -> object:
        return None if _blank(cython.cast(str, value)) else value


@cython.cclass
class DateTime(Step):
    """The usual form by its fast rule (schema/native.pyx), any other by the Python path."""

    usual: object
    general: object

    def __init__(self, usual: Callable[[str], str | None], general: Callable[[str], Any]) -> None:
        self.usual = usual
        self.general = general

    @cython.ccall
    def finish(self, value: object) -> object:
        normal = self.usual(value)  # type: ignore[operator]
        return self.general(value) if normal is None else normal  # type: ignore[operator]


@cython.cclass
class DecimalNumber(Step):
    """A decimal's exact JSON text (msgspec.Raw) as parse_object reads it: a Decimal within the
    field's limits; long numbers and exponents by the Python path."""

    minimum: Any
    maximum: Any
    general: Any

    def __init__(
        self, minimum: Decimal | None, maximum: Decimal | None, general: Callable[[bytes], Any]
    ) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.general = general

    @cython.ccall
    def finish(self, value: object) -> object:
        text: bytes = bytes(value)  # type: ignore[call-overload]  # a msgspec.Raw
        if text == b"null":
            return None
        if text[0] not in _NUMBER_START:
            raise Declined  # a string, an array, ...: parse_object explains or converts
        if len(text) > SHORT_NUMBER or b"e" in text or b"E" in text:
            return self.general(text)  # digits to count
        number = Decimal(text.decode()) if b"." in text else Decimal(int(text))
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            raise Declined
        return number


@cython.cclass
class IdList(Step):
    """A list of ids: a blank id is refused with a message (parse_object gives it)."""

    @cython.ccall
    def finish(self, value: object) -> object:
        for item in cython.cast(list, value):
            if _blank(item):
                raise Declined
        return value


@cython.cclass
class Finisher:
    """Finishes one struct of an object into its record, or raises Declined.

    Built by compiled.py from the object's field table: each field's name and Step (None: the
    value is as msgspec read it); the required fields as (position, whether a deletion excuses
    it); the position of the deletion flag (-1: none); the rules over several fields; the Tally
    the finishers of one record share. A field left out is ABSENT (ABSENT_NUMBER for decimals),
    an explicit null is None: both are no value, but only the null was given.
    """

    names: tuple  # type: ignore[type-arg]
    steps: tuple  # type: ignore[type-arg]
    needed: tuple  # type: ignore[type-arg]
    deletion: cython.Py_ssize_t
    rules: tuple  # type: ignore[type-arg]
    tally: Tally
    empty: dict  # type: ignore[type-arg]  # every field, None: each record is a copy of it

    def __init__(
        self,
        names: tuple[str, ...],
        steps: tuple[Step | None, ...],
        needed: tuple[tuple[int, bool], ...],
        deletion: int,
        rules: tuple[RuleCheck, ...],
        tally: Tally,
    ) -> None:
        self.names = names
        self.steps = steps
        self.needed = needed
        self.deletion = deletion
        self.rules = rules
        self.tally = tally
        self.empty = dict.fromkeys(names)

    def __call__(self, obj: Any) -> dict[str, Any]:
        return self.finish(obj)  # type: ignore[no-any-return]

    @cython.ccall
    def finish(self, obj: Any) -> dict:  # type: ignore[type-arg]
        pushed: tuple = astuple(obj)  # type: ignore[type-arg]  # the values, in table order
        names: tuple = self.names  # type: ignore[type-arg]
        steps: tuple = self.steps  # type: ignore[type-arg]
        # A copy of a dict with every key is one memcpy: no growing and rehashing of a new dict.
        record: dict = self.empty.copy()  # type: ignore[type-arg]
        position: cython.Py_ssize_t
        given: cython.Py_ssize_t = 0
        strings: cython.Py_ssize_t = 0
        for position in range(len(names)):
            value = pushed[position]
            if value is ABSENT or value is ABSENT_NUMBER:
                continue  # not given
            given += 1
            if value is None:
                continue
            if type(value) is str:
                strings += 1
            step = steps[position]
            if step is not None:
                if type(step) is IdList:
                    strings += len(value)
                value = cython.cast(Step, step).finish(value)
                if value is None:
                    continue
            record[names[position]] = value
        self.tally.given += given
        self.tally.strings += strings
        deleted: cython.bint = self.deletion >= 0 and record[names[self.deletion]] is True
        excused: cython.bint
        for position, excused in self.needed:
            if record[names[position]] is None and not (excused and deleted):
                raise Declined
        for rule in self.rules:
            for _ in rule(record):
                raise Declined
        return record


@cython.cclass
class Nested(Step):
    """An object inside an object: finished by its own Finisher."""

    finisher: Finisher

    def __init__(self, finisher: Finisher) -> None:
        self.finisher = finisher

    @cython.ccall
    def finish(self, value: object) -> object:
        return self.finisher.finish(value)


@cython.cclass
class NestedList(Step):
    """A list of objects, each finished by the objects' Finisher."""

    finisher: Finisher

    def __init__(self, finisher: Finisher) -> None:
        self.finisher = finisher

    @cython.ccall
    def finish(self, value: object) -> object:
        finisher: Finisher = self.finisher
        return [finisher.finish(item) for item in cython.cast(list, value)]
