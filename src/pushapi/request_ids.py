"""Request ids: every response carries one (X-Request-Id), the push log is keyed by them."""

import os
import threading
import time

_last_request_value = 0
_request_id_lock = threading.Lock()
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base 32, lower case


def _encode(value: int) -> str:
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def first_request_id_at(millis: int) -> str:
    """The smallest request id of the millisecond `millis` (since the epoch): every id made
    before it sorts lower."""
    return _encode(millis << 80)


def new_request_id() -> str:
    """A 26-character id that sorts by time: 48 bits of milliseconds, then 80 random bits.

    Within one process the ids strictly increase, so the push log lists pushes of the same
    millisecond in the order they arrived.
    """
    global _last_request_value
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    with _request_id_lock:
        if value <= _last_request_value:
            value = _last_request_value + 1
        _last_request_value = value
    return _encode(value)
