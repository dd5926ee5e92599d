"""Reading lists back (SPEC 5): the listing, and one list with its ContactIds a page at a time."""

from typing import Annotated

import msgspec
from fastapi import APIRouter, Query, Response

from pushapi.auth import CallerDep
from pushapi.errors import NotFound
from pushapi.routes.deps import (
    CURSOR_PATTERN,
    DEFAULT_LIMIT,
    ID_PARAM,
    ConnDep,
    Cursor,
    Limit,
    decode_cursor,
    encode_cursor,
    json_response,
    page,
)
from pushapi.routes.openapi import one_answer, page_answer
from pushapi.store.lists import ListWithMembers, get_list, list_lists

# Member ids are short, so a list's ContactIds come in larger pages than the listings' items.
DEFAULT_MEMBER_LIMIT = 10_000
MAX_MEMBER_LIMIT = 50_000

router = APIRouter(tags=["read"])
MemberLimit = Annotated[int, Query(ge=1, le=MAX_MEMBER_LIMIT, description="ContactIds per page")]


@router.get(
    "/v2/lists",
    summary="Lists in ListId order, a page at a time (without members)",
    operation_id="list_lists",
    responses=page_answer("ListSummary", "A page of lists"),
)
def read_lists(
    caller: CallerDep, conn: ConnDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    items, next_position = list_lists(conn, caller.tenant.tenant_id, limit, decode_cursor(cursor))
    return page(items, next_position)


@router.get(
    f"/v2/lists/{{list_id:{ID_PARAM}}}",
    summary="One list with a page of its ContactIds",
    operation_id="get_list",
    responses=one_answer("ListWithMembers", "The list and a page of its ContactIds"),
)
def read_list(
    list_id: str,
    caller: CallerDep,
    conn: ConnDep,
    limit: MemberLimit = DEFAULT_MEMBER_LIMIT,
    cursor: Annotated[
        str | None,
        Query(description="nextCursor of the previous page of ContactIds", pattern=CURSOR_PATTERN),
    ] = None,
) -> Response:
    """The list's attributes and its ContactIds in ContactId order; `nextCursor` fetches more."""
    found = get_list(conn, caller.tenant.tenant_id, list_id, limit, decode_cursor(cursor))
    if found is None:
        raise NotFound(f"no list {list_id!r}")
    summary, contact_ids, next_position = found
    body = ListWithMembers(
        **msgspec.structs.asdict(summary),
        contact_ids=contact_ids,
        next_cursor=encode_cursor(next_position),
    )
    return json_response(body)
