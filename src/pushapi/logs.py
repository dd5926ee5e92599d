"""Structured request logs (SPEC 6): one JSON line per request; never API keys or contact data."""

import logging
import sys
from typing import Any

import orjson

ACCESS_LOGGER = "pushapi.access"


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
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


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
