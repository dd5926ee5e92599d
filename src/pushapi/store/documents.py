"""Stored documents: the canonical JSON of a pushed record, its hash, and reading JSON back; and
the digests of records as pushed, by which unchanged ones are recognised.

Decimals travel as exact JSON numbers both ways (never through binary floating point).
"""

import hashlib
import json
from decimal import Decimal
from typing import Any

import msgspec

# Decimals written as the exact JSON numbers they are (str(Decimal)), never as floats. The output
# is byte for byte what orjson wrote for these documents before (tests/test_documents.py).
_DOCUMENT_ENCODER = msgspec.json.Encoder(decimal_format="number")


def dump_document(document: Any) -> bytes:
    """The canonical JSON of a normalised record (field order is the schema's)."""
    return _DOCUMENT_ENCODER.encode(document)


def content_hash(document_json: bytes) -> str:
    """A short digest that tells whether a record changed since it was stored."""
    return hashlib.blake2b(document_json, digest_size=16).hexdigest()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(text: str | bytes) -> Any:
    """Parse JSON as pushed or stored: decimals as Decimal, NaN and Infinity refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def raw_digests(raws: list[msgspec.Raw], seed: bytes) -> list[str]:
    """A digest of each record's exact bytes, under `seed` (what else decides how it is read).

    SHA-256 cut to 128 bits: faster here than BLAKE2 on bodies of megabytes (CPU SHA support).
    """
    seeded = hashlib.sha256(len(seed).to_bytes(2, "big") + seed)
    digests = []
    for raw in raws:
        digest = seeded.copy()
        digest.update(raw)
        digests.append(digest.hexdigest()[:32])
    return digests
