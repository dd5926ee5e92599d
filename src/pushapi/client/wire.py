"""How the client writes records and reads answers: JSON with exact decimals both ways, and
DateTimes as the API writes them. The client shares no code with the server (it is a client of
the HTTP API, and could be installed alone)."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

_ENCODER = msgspec.json.Encoder(decimal_format="number")


def dump_json(value: Any) -> bytes:
    """JSON of a record to push; decimals as exact numbers, never through binary floats."""
    return _ENCODER.encode(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(text: str | bytes) -> Any:
    """Parse an answer: decimals as Decimal, so that amounts read back stay exact."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def format_datetime(moment: datetime) -> str:
    """An aware datetime as the API writes DateTimes: UTC `yyyy-MM-ddTHH:mm:ss.fffZ`."""
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )
