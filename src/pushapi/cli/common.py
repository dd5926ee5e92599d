"""What the commands share: options, one-line errors, JSON output, and the database.

Heavy libraries (SQLAlchemy, Alembic, the server) are imported inside the commands that use
them, so that `pushapi --help` answers at once.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import msgspec
import typer

from pushapi.defaults import DEFAULT_DATABASE_URL

if TYPE_CHECKING:
    from sqlalchemy import Engine

DatabaseUrl = Annotated[
    str,
    typer.Option(
        "--database-url",
        envvar="PUSHAPI_DATABASE_URL",
        help="sqlite:///path or postgresql://user@host:5432/db",
        show_envvar=True,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]
__all__ = ["DEFAULT_DATABASE_URL", "CliError", "DatabaseUrl", "Json", "database", "fail"]


class CliError(Exception):
    """A user error: printed as one line, exit status 1."""


def fail(message: str, status: int = 1) -> NoReturn:
    print(f"pushapi: error: {message}", file=sys.stderr)
    raise SystemExit(status)


def print_json(value: Any) -> None:
    print(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


@contextmanager
def database(database_url: str) -> Iterator["Engine"]:
    """An engine on a database brought up to the newest schema (SPEC 2: any command creates it)."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

    from pushapi.config import Settings
    from pushapi.store.engine import build_engine, normalise_url
    from pushapi.store.migrate import upgrade_database

    try:
        backend = normalise_url(database_url).get_backend_name()
        # Shown as the user wrote it (not with the driver name), without a password.
        shown = make_url(database_url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise CliError(f"not a database URL: {database_url!r}") from None
    if backend not in ("sqlite", "postgresql"):
        raise CliError(f"unsupported database {shown!r}: use sqlite:/// or postgresql://")
    engine = build_engine(Settings(database_url=database_url))
    try:
        upgrade_database(engine)
        yield engine
    except DBAPIError as error:
        first_line = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise CliError(f"cannot use the database at {shown}: {first_line}") from None
    except SQLAlchemyError as error:
        raise CliError(f"database error at {shown}: {type(error).__name__}") from None
    finally:
        engine.dispose()
