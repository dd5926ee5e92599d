"""Stored documents: the canonical JSON of a pushed record, its hash, and reading it back.

Decimals travel as exact JSON numbers both ways (never through binary floating point).
"""

import hashlib
import json
from decimal import Decimal
from typing import Any

import orjson


def _fragment(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"cannot store a {type(value).__name__}")


def dump_document(document: Any) -> bytes:
    """The canonical JSON of a normalised record (field order is the schema's)."""
    return orjson.dumps(document, default=_fragment)


def content_hash(document_json: bytes) -> str:
    """A short digest that tells whether a record changed since it was stored."""
    return hashlib.blake2b(document_json, digest_size=16).hexdigest()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(text: str | bytes) -> Any:
    """Parse JSON as pushed or stored: decimals as Decimal, NaN and Infinity refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
