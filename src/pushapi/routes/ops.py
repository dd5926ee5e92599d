"""Operations endpoints (SPEC 6): health and metrics, without authentication."""

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from pushapi.metrics import CONTENT_TYPE
from pushapi.routes.paging import json_response

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Whether the server and its database answer")
def healthz(request: Request) -> Response:
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return json_response({"status": "ok", "database": "ok"})


@router.get("/metrics", summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
