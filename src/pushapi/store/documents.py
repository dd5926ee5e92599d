"""Stored documents: the canonical JSON of a pushed record, its hash, and reading it back; and
the request body split into its records as pushed.

Decimals travel as exact JSON numbers both ways (never through binary floating point).
"""

import hashlib
import json
from decimal import Decimal
from typing import Any

import msgspec

# Splits a body into its records without building them; every byte is still checked as JSON.
_RECORD_SPLITTER = msgspec.json.Decoder(list[msgspec.Raw])
# What the fast decoders raise on input they do not take; load_json then decides and explains.
_NOT_TAKEN = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


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


def split_records(body: bytes) -> list[msgspec.Raw] | None:
    """The records of a body that is a JSON array, each as its exact bytes; None otherwise.

    None also means "not taken here" (a lone surrogate escape, say, which load_json reads):
    the caller then reads the body with load_json, which accepts it or says what is wrong.
    """
    try:
        return _RECORD_SPLITTER.decode(body)
    except (*_NOT_TAKEN, msgspec.ValidationError):
        return None


def decode_record(raw: msgspec.Raw) -> Any:
    """One record of `split_records` as load_json reads it (ValueError when it is not JSON).

    Records the compiled reader declines come here: load_json, not msgspec, so that what is
    accepted or refused (nesting depth, integers of thousands of digits, ...) is as before.
    """
    return load_json(memoryview(raw).tobytes())


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
