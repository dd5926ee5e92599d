"""API keys (SPEC 6): random, shown once, stored only as hashes, compared in constant time.

A key reads `pk_<key id>_<secret>` (192 bits of secret): the key id finds the stored row, the
hash of the whole key proves it. SHA-256 is enough for a key of 192 random bits (a slow hash
protects guessable secrets, which these are not).
"""

import hashlib
import hmac
import re
import secrets

KEY_FORM = re.compile(r"pk_([0-9a-f]{12})_[A-Za-z0-9_-]{32}")
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


def new_api_key() -> tuple[str, str]:
    """A new key: (key id, the key)."""
    key_id = secrets.token_hex(6)
    return key_id, f"pk_{key_id}_{secrets.token_urlsafe(24)}"


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def key_id_of(api_key: str | None) -> str | None:
    """The key id a presented key names, or None when it is not of the form of a key."""
    match = KEY_FORM.fullmatch(api_key or "")
    return match.group(1) if match else None


def key_matches(stored_hash: str | None, api_key: str | None) -> bool:
    """Whether `api_key` is the key stored as `stored_hash` (None: no such key).

    Always compares, so an unknown key id costs the same time as a wrong secret.
    """
    valid = hmac.compare_digest(stored_hash or _DUMMY_HASH, hash_key(api_key or ""))
    return valid and stored_hash is not None
