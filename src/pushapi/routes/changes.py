"""The change feed (SPEC 8): the tenant's change events after a seq, oldest first."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from pushapi.auth import CallerDep
from pushapi.errors import GoneCursor, InvalidParameter
from pushapi.routes.deps import DEFAULT_LIMIT, ConnDep, Limit, json_response
from pushapi.routes.openapi import error_answer, page_answer
from pushapi.store.changes import EVENT_TYPES, CursorExpired, list_changes

router = APIRouter(tags=["change feed"])

TYPES_PATTERN = f"^({'|'.join(EVENT_TYPES)})(,({'|'.join(EVENT_TYPES)}))*$".replace(".", r"\.")
After = Annotated[
    int,
    Query(ge=0, description="The last seq seen: events with a greater seq are listed"),
]
Types = Annotated[
    str | None,
    Query(
        description="Comma-separated event types to list (default: every type)",
        json_schema_extra={"pattern": TYPES_PATTERN},
    ),
]


def _types(raw: str | None) -> frozenset[str] | None:
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",")]
    unknown = [name for name in names if name not in EVENT_TYPES]
    if unknown or not names:
        raise InvalidParameter(
            f"types: unknown event type {unknown[0]!r}; expected a comma-separated list of "
            + ", ".join(EVENT_TYPES)
        )
    return frozenset(names)


@router.get(
    "/v2/changes",
    summary="Change events after a seq, oldest first",
    operation_id="list_changes",
    responses={
        **page_answer("ChangeEvent", "A page of change events; nextCursor is the next `after`"),
        410: error_answer(
            "cursor_expired: events after `after` were pruned; the message says the oldest kept"
        ),
    },
)
def read_changes(
    caller: CallerDep,
    conn: ConnDep,
    after: After = 0,
    limit: Limit = DEFAULT_LIMIT,
    types: Types = None,
) -> Response:
    wanted = _types(types)
    try:
        items, next_after = list_changes(conn, caller.tenant.tenant_id, after, limit, wanted)
    except CursorExpired as expired:
        raise GoneCursor(
            f"events after seq {after} are no longer all kept (PUSHAPI_CHANGES_RETENTION_DAYS); "
            f"the oldest kept is seq {expired.first_kept}: read the current state, then follow "
            f"the feed with after={expired.first_kept - 1}"
        ) from None
    cursor = None if next_after is None else str(next_after)
    return json_response({"items": items, "nextCursor": cursor})
