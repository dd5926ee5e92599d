"""What the read routes share: the caller and a connection as dependencies, the query
parameters of listings (`limit`, opaque `cursor`, `modifiedSince`, `includeDeleted`), ids in
paths, and the `{"items": [...], "nextCursor": ...}` shape of SPEC 5."""

import base64
import binascii
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import msgspec
from fastapi import Depends, Query, Request, Response
from sqlalchemy import Connection
from starlette.convertors import Convertor, register_url_convertor

from pushapi.errors import InvalidParameter
from pushapi.schema.openapi import BOOL_STRING, DATETIME_STRING
from pushapi.schema.values import ValueProblem, parse_bool, parse_datetime
from pushapi.store.documents import dump_document

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

# The query parameters, described as exactly as the server reads them (a value out of these is
# answered 400 invalid_parameter).
CURSOR_PATTERN = "^[A-Za-z0-9_-]*$"
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")]
Cursor = Annotated[
    str | None,
    Query(description="nextCursor of the previous page", pattern=CURSOR_PATTERN),
]
IncludeDeleted = Annotated[
    str | None,
    Query(
        alias="includeDeleted",
        description="true: soft-deleted records too (true or false, in any letter case)",
        json_schema_extra={"pattern": BOOL_STRING},
    ),
]
ModifiedSince = Annotated[
    str | None,
    Query(
        alias="modifiedSince",
        description="Only records changed since (DateTime)",
        json_schema_extra={"pattern": DATETIME_STRING},
    ),
]
At = Annotated[
    str | None,
    Query(
        description="DateTime at which membership is active; default now",
        json_schema_extra={"pattern": DATETIME_STRING},
    ),
]


def json_response(body: Any, status: int = 200) -> Response:
    return Response(dump_document(body), status_code=status, media_type="application/json")


def encode_cursor(position: str | None) -> str | None:
    if position is None:
        return None
    return base64.urlsafe_b64encode(msgspec.json.encode([position])).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The position a cursor stands for; 400 for a cursor this server did not hand out."""
    if cursor is None or cursor == "":
        return None
    try:
        decoded = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        decoded = None
    if not (
        isinstance(decoded, list)
        and len(decoded) == 1
        and isinstance(decoded[0], str)
        and "\x00" not in decoded[0]  # no key holds NUL (PostgreSQL would refuse the query)
    ):
        raise InvalidParameter("cursor: not a cursor returned by this API")
    return decoded[0]


def page(items: list[Any], next_position: str | None) -> Response:
    return json_response({"items": items, "nextCursor": encode_cursor(next_position)})


def parse_flag(name: str, raw: str | None) -> bool:
    """A true/false query parameter (absent means false)."""
    if raw is None:
        return False
    try:
        return parse_bool(raw) is True
    except ValueProblem as problem:
        raise InvalidParameter(f"{name}: {problem}") from None


def parse_moment(name: str, raw: str | None) -> str | None:
    """A DateTime query parameter, normalised to UTC `yyyy-MM-ddTHH:mm:ss.fffZ`."""
    if raw is None:
        return None
    try:
        return parse_datetime(raw)
    except ValueProblem as problem:
        raise InvalidParameter(f"{name}: {problem}") from None


def moment_as_datetime(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def read_connection(request: Request) -> Iterator[Connection]:
    """A connection for the reads of one request."""
    with request.app.state.engine.connect() as conn:
        yield conn


ConnDep = Annotated[Connection, Depends(read_connection)]


class IdConvertor(Convertor[str]):
    """A path parameter holding one id: any characters, `/` and newlines included (SPEC 3.1),
    but NUL, which no stored id holds (a push refuses it): such a path matches no route (404).

    Starlette's `path` convertor is `.*`, which stops at a newline, so an id with one in it (a
    legal id) could not be read back.
    """

    regex = r"[^\x00]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# The convertor name for ids in paths, as in "/v2/contacts/{contact_id:id}".
ID_PARAM = "id"
register_url_convertor(ID_PARAM, IdConvertor())
