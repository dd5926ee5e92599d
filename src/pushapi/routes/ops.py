"""Operations endpoints (SPEC 6): health, metrics and the API docs page, without authentication."""

import hmac
from pathlib import Path

import fastapi_offline
import msgspec
from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from pushapi.errors import Unauthorized
from pushapi.metrics import CONTENT_TYPE
from pushapi.routes.deps import json_response
from pushapi.store.health import OK, database_health

router = APIRouter(tags=["operations"])
HEALTH = {"$ref": "#/components/schemas/Health"}


class Health(msgspec.Struct):
    """The answer of /healthz: `database` is ok, unreachable, read-only or disk full."""

    status: str
    database: str


@router.get(
    "/healthz",
    summary="Whether the server can take pushes: its database is reachable and writable",
    operation_id="health",
    responses={
        200: {"description": "Ready", "content": {"application/json": {"schema": HEALTH}}},
        503: {"description": "Not ready", "content": {"application/json": {"schema": HEALTH}}},
    },
)
def healthz(request: Request) -> Response:
    state = request.app.state
    database = database_health(state.health_engine)
    if database != OK:
        return json_response(Health("unavailable", database), status=503)
    return json_response(Health("ok", database))


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    operation_id="metrics",
    responses={
        200: {"description": "Prometheus text format", "content": {CONTENT_TYPE: {}}},
        401: {"description": "PUSHAPI_METRICS_TOKEN is set and the request lacks it"},
    },
)
def metrics(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if token is not None:
        presented = request.headers.get("authorization", "")
        if not hmac.compare_digest(presented.encode(), f"Bearer {token}".encode()):
            raise Unauthorized("/metrics needs the header Authorization: Bearer <token>")
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)


# The docs page's scripts and styles are served by pushapi itself, never fetched from a CDN:
# servers often run where browsers cannot reach one (and a CDN would see every docs visitor).
DOCS_ASSETS_URL = "/docs/assets"
DOCS_ASSETS = StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static")


@router.get("/docs", include_in_schema=False)
def docs_page(request: Request) -> HTMLResponse:
    """Swagger UI over /openapi.json."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title="pushapi - API docs",
        swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
    )
