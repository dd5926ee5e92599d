"""Reading groups back (SPEC 5): each with its Kind, and a group's active members."""

from datetime import UTC, datetime

from fastapi import APIRouter, Response

from pushapi.auth import CallerDep
from pushapi.errors import NotFound
from pushapi.routes.deps import (
    DEFAULT_LIMIT,
    ID_PARAM,
    At,
    ConnDep,
    Cursor,
    Limit,
    decode_cursor,
    json_response,
    page,
    parse_moment,
)
from pushapi.routes.openapi import one_answer, page_answer
from pushapi.schema.values import format_datetime
from pushapi.store.groups import get_group, list_groups

router = APIRouter(tags=["read"])


@router.get(
    "/v2/groups",
    summary="Groups in GroupId order, a page at a time",
    operation_id="list_groups",
    responses=page_answer("Group", "A page of groups"),
)
def read_groups(
    caller: CallerDep, conn: ConnDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    items, next_position = list_groups(conn, caller.tenant, limit, decode_cursor(cursor))
    return page(items, next_position)


@router.get(
    f"/v2/groups/{{group_id:{ID_PARAM}}}",
    summary="One group with its active members",
    operation_id="get_group",
    responses=one_answer("GroupWithMembers", "The group and its active memberships"),
)
def read_group(
    group_id: str,
    caller: CallerDep,
    conn: ConnDep,
    at: At = None,
) -> Response:
    moment = parse_moment("at", at) or format_datetime(datetime.now(UTC))
    group = get_group(conn, caller.tenant, group_id, moment)
    if group is None:
        raise NotFound(f"no group {group_id!r}")
    return json_response(group)
