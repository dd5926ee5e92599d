"""Structured request logs (SPEC 6): one JSON line per request; never API keys or contact data."""

import logging
import sys
import traceback
from types import TracebackType
from typing import Any

import msgspec

ACCESS_LOGGER = "pushapi.access"
# Longest SQL statement kept in a logged exception (bulk statements can be very long).
STATEMENT_MAX_LENGTH = 1000

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _type_name(error: BaseException) -> str:
    cls = type(error)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _chain(error: BaseException) -> list[BaseException]:
    """The exception and its causes, outermost last, as Python prints them."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return list(reversed(chain))


def describe_exception(exc_info: ExcInfo) -> dict[str, Any]:
    """An exception for the log: types, frames and database error codes, but no messages.

    SPEC 6: messages of database errors carry the statement's parameters (pushed names, e-mail
    addresses, whole documents) and driver details quote values, so no message is logged.
    """
    lines: list[str] = []
    fields: dict[str, Any] = {"exception_type": _type_name(exc_info[1])}
    for error in _chain(exc_info[1]):
        if lines:
            lines.append("\nwhich led to:\n")
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(traceback.extract_tb(error.__traceback__)))
        lines.append(f"{_type_name(error)} (message withheld: it may quote pushed data)\n")
        statement = getattr(error, "statement", None)
        if isinstance(statement, str):  # SQLAlchemy: the SQL with placeholders, no values
            fields["sql"] = statement[:STATEMENT_MAX_LENGTH]
        for code in ("sqlstate", "sqlite_errorname"):  # psycopg, sqlite3: an error code
            value = getattr(error, code, None)
            if isinstance(value, str):
                fields[code] = value
    fields["exception"] = "".join(lines)
    return fields


_LINE_ENCODER = msgspec.json.Encoder(enc_hook=str)


class JsonLineFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, message and the fields passed in extra."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info and record.exc_info[1] is not None:
            line.update(describe_exception(record.exc_info))  # type: ignore[arg-type]
        return _LINE_ENCODER.encode(line).decode()


def configure_logging(level: str) -> None:
    """Send pushapi's logs to stderr as JSON lines (once per process)."""
    root = logging.getLogger("pushapi")
    if any(isinstance(h.formatter, JsonLineFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
