"""The options of a push request (SPEC 3.2): `?dryRun=`, `?onError=` and the `Idempotency-Key`
header, read and checked before the body is; and what makes two keyed requests "the same".

Parameter names and values match in any letter case (`dryrun=TRUE`), as the record's property
names do (SPEC 3.1); a parameter given twice, or with another value, is 400 invalid_parameter.
Other parameters are ignored, but count when two keyed requests are compared.
"""

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pushapi.errors import InvalidIdempotencyKey, InvalidParameter

DRY_RUN = "dryRun"
ON_ERROR = "onError"
IDEMPOTENCY_KEY = "Idempotency-Key"
ON_ERROR_VALUES = ("reject", "skip")
# SPEC 3.2: 1-255 visible ASCII characters (no space, no control character).
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True, slots=True)
class PushOptions:
    """How one push is to run: for real or as a dry run, and what an invalid record does."""

    dry_run: bool = False
    skip_invalid: bool = False  # onError=skip: invalid records are left out, the rest applied


DEFAULT = PushOptions()


def _one_value(pairs: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in pairs if key.lower() == name.lower()]
    if len(values) > 1:
        raise InvalidParameter(f"{name}: given {len(values)} times; give it once")
    return values[0].strip().lower() if values else None


def push_options(pairs: Sequence[tuple[str, str]]) -> PushOptions:
    """The options of a push from its query parameters; InvalidParameter for a bad value."""
    dry_run = _one_value(pairs, DRY_RUN)
    on_error = _one_value(pairs, ON_ERROR)
    if dry_run not in (None, "true", "false"):
        raise InvalidParameter(f"{DRY_RUN}: expected true or false, got {dry_run!r}")
    if on_error not in (None, *ON_ERROR_VALUES):
        raise InvalidParameter(f"{ON_ERROR}: expected reject or skip, got {on_error!r}")
    return PushOptions(dry_run=dry_run == "true", skip_invalid=on_error == "skip")


def asks_dry_run(pairs: Sequence[tuple[str, str]]) -> bool:
    """Whether a request asked for a dry run (False when its options are not valid)."""
    try:
        return push_options(pairs).dry_run
    except InvalidParameter:
        return False


def idempotency_key(values: Sequence[str]) -> str | None:
    """The Idempotency-Key of a request (None without one); InvalidIdempotencyKey when it is
    not 1-255 visible ASCII characters or is given twice."""
    if not values:
        return None
    if len(values) > 1:
        raise InvalidIdempotencyKey(f"{IDEMPOTENCY_KEY}: given {len(values)} times; give it once")
    key = values[0]
    if KEY_PATTERN.fullmatch(key) is None:
        length = len(key)
        problem = f"{length} characters" if length == 0 or length > 255 else "other characters"
        raise InvalidIdempotencyKey(
            f"{IDEMPOTENCY_KEY}: expected 1-255 visible ASCII characters (no spaces), got {problem}"
        )
    return key


def request_fingerprint(endpoint: str, pairs: Sequence[tuple[str, str]], body: bytes) -> str:
    """What makes two keyed requests the same: the endpoint, the query parameters with their
    values in any order, and the body byte for byte (SHA-256, hex)."""
    head = json.dumps([endpoint, sorted(pairs)]).encode()  # ASCII: unambiguous, then the body
    digest = hashlib.sha256(head)
    digest.update(body)
    return digest.hexdigest()
