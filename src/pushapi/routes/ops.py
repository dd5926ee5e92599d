"""Operations endpoints (SPEC 6): health, metrics and the API docs page, without authentication."""

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from pushapi.metrics import CONTENT_TYPE
from pushapi.routes.deps import json_response

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
