"""Operators of the console (SPEC 9) and the console's sessions.

An operator's password is stored only as an argon2id hash (argon2-cffi). A session is a row
keyed by the SHA-256 of a random secret that only the browser's cookie holds; signing out
deletes the row, so a copy of the cookie is worth nothing afterwards.
"""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pushapi.store.tables import api_keys, console_sessions, operators, tenants

OPERATOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
IDLE_LIMIT = timedelta(hours=8)  # SPEC 9: a session ends after 8 hours without a request
SEEN_RESOLUTION = timedelta(minutes=1)  # a session's last request is written at most this often

_hasher = PasswordHasher()


@cache
def _unknown() -> str:
    """A hash verified against when the name is unknown, so that an unknown name costs as long
    as a wrong password and does not show which names exist."""
    return _hasher.hash(secrets.token_urlsafe(16))


class OperatorError(Exception):
    """An operator operation that cannot be done; the message is for the operator."""


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    created_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def create_operator(engine: Engine, name: str) -> str:
    """Create an operator with a generated password, returned once (only its hash is kept)."""
    if not OPERATOR_NAME.fullmatch(name):
        raise OperatorError(
            f"invalid operator name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    password = secrets.token_urlsafe(18)
    try:
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            conn.execute(
                insert(operators).values(
                    name=name, password_hash=_hasher.hash(password), created_at=_now()
                )
            )
    except IntegrityError:
        raise OperatorError(f"operator {name!r} already exists") from None
    return password


def list_operators(engine: Engine) -> list[Operator]:
    with engine.connect() as conn:
        rows = conn.execute(select(operators).order_by(operators.c.name)).all()
    return [Operator(row.name, row.created_at) for row in rows]


def delete_operator(engine: Engine, name: str) -> None:
    """Delete an operator and end its sessions."""
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(delete(console_sessions).where(console_sessions.c.operator == name))
        gone = conn.execute(delete(operators).where(operators.c.name == name)).rowcount
    if gone == 0:
        raise OperatorError(f"unknown operator {name!r}")


def operator_password_matches(conn: Connection, name: str, password: str) -> bool:
    row = conn.execute(select(operators.c.password_hash).where(operators.c.name == name)).first()
    try:
        return _hasher.verify(_unknown() if row is None else row.password_hash, password) and (
            row is not None
        )
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Session:
    """Who a console session acts for: an operator (every tenant) or one tenant."""

    session_id: str  # the hash that keys the row
    operator: str | None
    tenant_code: str | None


def _session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(
    conn: Connection,
    *,
    operator: str | None = None,
    tenant_code: str | None = None,
    key_id: str | None = None,
) -> tuple[str, Session]:
    """A new session: the secret for the cookie, and the session."""  # fmt: skip
    secret = secrets.token_urlsafe(32)
    now = _now()
    session = Session(_session_id(secret), operator, tenant_code)
    conn.execute(
        insert(console_sessions).values(
            session_id=session.session_id,
            operator=operator,
            tenant_code=tenant_code,
            key_id=key_id,
            created_at=now,
            seen_at=now,
        )
    )
    return secret, session


def find_session(engine: Engine, secret: str) -> Session | None:
    """The live session of a cookie's secret: None when unknown, signed out, idle for more than
    IDLE_LIMIT, or signed in with a key revoked since. Notes the request (at most once a
    minute), which keeps the session alive."""
    session_id = _session_id(secret)
    table = console_sessions
    query = (
        select(table, api_keys.c.revoked_at, api_keys.c.key_id.label("live_key"))
        .outerjoin(tenants, tenants.c.code == table.c.tenant_code)
        .outerjoin(
            api_keys,
            (api_keys.c.tenant_id == tenants.c.tenant_id) & (api_keys.c.key_id == table.c.key_id),
        )
        .where(table.c.session_id == session_id)
    )
    now = _now()
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    revoked = row.tenant_code is not None and (row.live_key is None or row.revoked_at is not None)
    if revoked or now - row.seen_at > IDLE_LIMIT:
        end_session(engine, session_id)
        return None
    if now - row.seen_at > SEEN_RESOLUTION:
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            conn.execute(update(table).where(table.c.session_id == session_id).values(seen_at=now))
    return Session(session_id, row.operator, row.tenant_code)


def end_session(engine: Engine, session_id: str) -> None:
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(delete(console_sessions).where(console_sessions.c.session_id == session_id))


def prune_sessions(conn: Connection, now: datetime) -> int:
    """Delete sessions idle for longer than IDLE_LIMIT; how many."""
    table = console_sessions
    return conn.execute(delete(table).where(table.c.seen_at < now - IDLE_LIMIT)).rowcount
