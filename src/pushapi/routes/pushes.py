"""The push log (SPEC 6): what happened to each push request of the caller's tenant."""

from fastapi import APIRouter, Request, Response

from pushapi.auth import CallerDep
from pushapi.errors import NotFound
from pushapi.routes.deps import (
    DEFAULT_LIMIT,
    ID_PARAM,
    ConnDep,
    Cursor,
    Limit,
    decode_cursor,
    json_response,
    page,
)
from pushapi.routes.openapi import one_answer, page_answer
from pushapi.store.pushlog import get_push_entry, list_push_entries

router = APIRouter(tags=["push log"])
# Refused pushes reach the log off the request (store/background.py): a read of the log first
# writes those queued in this process, waiting this long at the most.
WAIT_FOR_REFUSALS = 1.0


@router.get(
    "/v2/pushes",
    summary="Push requests, newest first",
    operation_id="list_pushes",
    responses=page_answer("PushLogEntry", "A page of the push log"),
)
def read_pushes(
    request: Request,
    caller: CallerDep,
    conn: ConnDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    request.app.state.writer.flush(timeout=WAIT_FOR_REFUSALS)
    items, next_position = list_push_entries(
        conn, caller.tenant.tenant_id, limit, decode_cursor(cursor)
    )
    return page(items, next_position)


@router.get(
    f"/v2/pushes/{{request_id:{ID_PARAM}}}",
    summary="One push request",
    operation_id="get_push",
    responses=one_answer("PushLogEntry", "What happened to the push"),
)
def read_push(request: Request, request_id: str, caller: CallerDep, conn: ConnDep) -> Response:
    request.app.state.writer.flush(timeout=WAIT_FOR_REFUSALS)
    entry = get_push_entry(conn, caller.tenant.tenant_id, request_id)
    if entry is None:
        raise NotFound(f"no push {request_id!r}")
    return json_response(entry)
