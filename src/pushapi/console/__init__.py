"""The web console (SPEC 9), served by `pushapi serve` at /console/: server-rendered pages
(Jinja2), local assets, no script. `console_app` builds it as an application of its own, so
that its session cookie and form handling touch no request of the API."""

import secrets
from pathlib import Path

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from pushapi.config import Settings
from pushapi.console.guard import CsrfRefused, SignInLock
from pushapi.console.pages import PREFIX, ROUTES, SignInNeeded, render
from pushapi.store.background import BackgroundWriter
from pushapi.store.operators import IDLE_LIMIT

COOKIE = "pushapi_console"
STATIC = Path(__file__).parent / "static"


async def _sign_in_needed(request: Request, _error: Exception) -> Response:
    return render(request, "signin.html", 401, expired=True)


async def _csrf_refused(request: Request, _error: Exception) -> Response:
    message = "This form was sent without its security token, or with an old one. Nothing was"
    message += " changed. Go back, reload the page and send it again."
    return render(request, "error.html", 403, title="Form refused", message=message)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    titles = {404: "Not found", 400: "Bad request", 405: "Method not allowed"}
    title = titles.get(error.status_code, "Error")
    return render(request, "error.html", error.status_code, title=title, message=error.detail)


def console_app(settings: Settings, engine: Engine, writer: BackgroundWriter) -> Starlette:
    """The console, to mount at PREFIX."""
    secret_key = settings.console_secret_key or secrets.token_urlsafe(32)
    app = Starlette(
        routes=[*ROUTES, Mount("/static", StaticFiles(directory=STATIC), name="static")],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=secret_key,
                session_cookie=COOKIE,
                max_age=int(IDLE_LIMIT.total_seconds()),
                path=PREFIX,
                same_site="strict",
                https_only=settings.console_secure_cookies,
            )
        ],
        exception_handlers={
            SignInNeeded: _sign_in_needed,
            CsrfRefused: _csrf_refused,
            HTTPException: _http_error,
        },
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.writer = writer
    app.state.sign_in_lock = SignInLock(settings.rate_limit_storage)
    return app
