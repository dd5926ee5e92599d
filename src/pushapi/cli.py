"""The `pushapi` command (SPEC 2). User errors print one line to stderr and exit non-zero."""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import orjson
import typer
from pydantic import ValidationError
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from pushapi.client import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_URL,
    ENDPOINTS,
    PushApiError,
    PushClient,
    PushSummary,
)
from pushapi.config import DEFAULT_DATABASE_URL, REGIONS, Settings
from pushapi.files import FileProblem, RecordFile
from pushapi.metrics import metrics_shared_by_workers
from pushapi.pushreport import NoLocalSchema, PushProgress, PushReport, push_failure
from pushapi.schema.compiled import NATIVE
from pushapi.store.engine import build_engine, normalise_url
from pushapi.store.migrate import upgrade_database
from pushapi.tenants import (
    DEFAULT_COMMUNITY_GROUP_TYPES,
    PLATFORMS,
    TenantError,
    create_key,
    create_tenant,
    find_tenant,
    list_keys,
    list_tenants,
    revoke_key,
)

try:  # Typer >= 0.26 carries its own copy of click's exceptions
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older Typer uses click itself
    from click import exceptions as click_errors  # type: ignore[no-redef]

app = typer.Typer(
    help="pushapi: an open, self-hostable Push API v2 server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of a tenant.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")

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


class CliError(Exception):
    """A user error: printed as one line, exit status 1."""


def _fail(message: str, status: int = 1) -> NoReturn:
    print(f"pushapi: error: {message}", file=sys.stderr)
    raise SystemExit(status)


def _print_json(value: Any) -> None:
    print(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@contextmanager
def _database(database_url: str) -> Iterator[Engine]:
    """An engine on a database brought up to the newest schema (SPEC 2: any command creates it)."""
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


def _tenant_json(tenant: Any) -> dict[str, Any]:
    return {
        "tenant": tenant.code,
        "platform": tenant.platform,
        "region": tenant.region,
        "community_group_types": sorted(tenant.community_group_types),
        "created_at": tenant.created_at.isoformat(),
    }


@app.command()
def serve(
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on", min=1, max=65535)] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes", min=1)] = 1,
    demo: Annotated[
        bool, typer.Option("--demo", help="Create tenant 'demo' (community) if absent")
    ] = False,
) -> None:
    """Apply pending migrations, then serve the API."""
    import uvicorn

    with _database(database_url) as engine:
        if demo:
            _ensure_demo_tenant(engine)
    # Every worker process builds its app from the environment (SPEC 2: PUSHAPI_* variables).
    os.environ["PUSHAPI_DATABASE_URL"] = database_url
    print(f"pushapi: serving on http://{host}:{port} with {workers} worker(s)", file=sys.stderr)
    if not NATIVE:  # pragma: no cover - CI installs with a C compiler
        print(
            "pushapi: the value rules run in Python, more slowly: this installation was built"
            " without a C compiler (see docs/operations.md, Installing)",
            file=sys.stderr,
        )
    # With several workers, /metrics adds up all of them (prometheus_client multiprocess mode).
    with metrics_shared_by_workers(workers):
        uvicorn.run(
            "pushapi.app:create_app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
            log_level="warning",
        )


def _ensure_demo_tenant(engine: Engine) -> None:
    try:
        find_tenant(engine, "demo")
    except TenantError:
        _tenant, key = create_tenant(engine, "demo", "community")
        print("Created tenant 'demo' (platform community). Its API key, shown only once:")
        print(key.api_key, flush=True)
        return
    print(
        "Tenant 'demo' exists; its key was shown when it was created. "
        "Make another with: pushapi keys create demo",
        flush=True,
    )


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """Apply pending migrations."""
    with _database(database_url):
        print("database is at the newest schema")


@tenants_app.command("create")
def tenants_create(
    code: Annotated[str, typer.Argument(help="Tenant code, e.g. acme")],
    platform: Annotated[
        str, typer.Option(help=f"One of: {', '.join(PLATFORMS)}", show_default=False)
    ],
    region: Annotated[str, typer.Option(help=f"One of: {', '.join(REGIONS)}")] = "us",
    community_group_types: Annotated[
        str,
        typer.Option(help="Comma-separated GroupType values that make a group a community"),
    ] = ",".join(DEFAULT_COMMUNITY_GROUP_TYPES),
    json: Json = False,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Create a tenant and its first API key (the key is shown once)."""
    types = tuple(t for t in community_group_types.split(","))
    with _database(database_url) as engine:
        tenant, key = create_tenant(engine, code, platform, region, types)
    if json:
        _print_json(
            {
                "tenant": tenant.code,
                "platform": tenant.platform,
                "region": tenant.region,
                "api_key": key.api_key,
                "key_id": key.key_id,
            }
        )
        return
    print(f"Created tenant {tenant.code!r} ({tenant.platform}, region {tenant.region}).")
    print(f"API key {key.key_id}, shown only once:")
    print(key.api_key)


@tenants_app.command("list")
def tenants_list(json: Json = False, database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """List tenants."""
    with _database(database_url) as engine:
        found = list_tenants(engine)
    if json:
        _print_json([_tenant_json(t) for t in found])
        return
    for t in found:
        print(f"{t.code}\t{t.platform}\t{t.region}\t{t.created_at:%Y-%m-%d %H:%M:%S}Z")


@keys_app.command("create")
def keys_create(
    code: Annotated[str, typer.Argument(help="Tenant code")],
    json: Json = False,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Add an API key to a tenant (its other keys stay valid)."""
    with _database(database_url) as engine:
        key = create_key(engine, code)
    if json:
        _print_json({"tenant": code, "api_key": key.api_key, "key_id": key.key_id})
        return
    print(f"API key {key.key_id} for tenant {code!r}, shown only once:")
    print(key.api_key)


@keys_app.command("list")
def keys_list(
    code: Annotated[str, typer.Argument(help="Tenant code")],
    json: Json = False,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """List a tenant's keys: ids, prefixes and times, never the secret."""
    with _database(database_url) as engine:
        keys = list_keys(engine, code)

    def when(moment: Any) -> str | None:
        return None if moment is None else moment.isoformat()

    rows = [
        {
            "key_id": k.key_id,
            "prefix": k.prefix,
            "created_at": when(k.created_at),
            "last_used_at": when(k.last_used_at),
            "revoked_at": when(k.revoked_at),
        }
        for k in keys
    ]
    if json:
        _print_json(rows)
        return
    for row in rows:
        status = "revoked" if row["revoked_at"] else "active"
        print(
            f"{row['key_id']}\t{row['prefix']}\t{status}\tcreated {row['created_at']}\t"
            f"last used {row['last_used_at'] or 'never'}"
        )


@keys_app.command("revoke")
def keys_revoke(
    code: Annotated[str, typer.Argument(help="Tenant code")],
    key_id: Annotated[str, typer.Argument(help="Key id, as `keys list` shows it")],
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Revoke a key; requests with it are refused at once."""
    with _database(database_url) as engine:
        revoke_key(engine, code, key_id)
    print(f"revoked key {key_id} of tenant {code!r}")


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as problem:
        _fail(f"--url {url!r} is not a URL: {problem}", status=2)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        _fail(f"--url must be http://host[:port] or https://..., got {url!r}", status=2)


def _push_records(
    report: PushReport, url: str, api_key: str, batch_size: int, retries: int
) -> PushSummary:
    """Push a file's records with a progress bar; a failure that stops the push exits 2."""
    with (
        PushProgress(len(report.records)) as progress,
        PushClient(url, api_key, retries=retries, on_retry=progress.retrying) as client,
    ):
        try:
            return client.push(
                report.endpoint, report.records, batch_size=batch_size, progress=progress.advance
            )
        except PushApiError as error:
            _fail(push_failure(error, url, report.endpoint), status=2)


PushEndpointName = Annotated[
    str,
    typer.Argument(metavar="ENDPOINT", help=f"One of: {'|'.join(ENDPOINTS)}", show_default=False),
]


@app.command()
def push(
    endpoint: PushEndpointName,
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="JSON array (.json), NDJSON (.ndjson) or CSV (.csv)"),
    ],
    url: Annotated[
        str, typer.Option(envvar="PUSHAPI_URL", show_envvar=True, help="The server's base URL")
    ] = DEFAULT_URL,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="PUSHAPI_API_KEY", show_envvar=True, help="The tenant's API key"),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Records per request")] = (
        DEFAULT_BATCH_SIZE
    ),
    file_format: Annotated[
        str | None, typer.Option("--format", help="json, ndjson or csv (default: by file name)")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="Lists from CSV: Add, Remove or Replace")] = None,
    retries: Annotated[
        int, typer.Option(min=0, help="Retries of a request on 429, 5xx and connection errors")
    ] = 5,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate the records locally; send nothing")
    ] = False,
    json: Json = False,
) -> None:
    """Push a file's records in batches; exit 0 all accepted, 1 a batch rejected, 2 failed."""
    if endpoint not in ENDPOINTS:
        _fail(f"unknown endpoint {endpoint!r}; use one of {', '.join(ENDPOINTS)}", status=2)
    if not dry_run and not api_key:
        _fail("no API key: pass --api-key or set PUSHAPI_API_KEY", status=2)
    _check_url(url)
    try:
        records = RecordFile(file, endpoint, file_format, mode)
        report = PushReport(endpoint, file, records)
        if dry_run:
            report.check_locally()
        else:
            assert api_key is not None
            report.summary = _push_records(report, url, api_key, batch_size, retries)
    except FileProblem as problem:
        _fail(f"{file}: {problem}", status=2)
    except NoLocalSchema as problem:
        _fail(str(problem), status=2)
    report.finish()
    if json:
        _print_json(report.as_json())
    else:
        print("\n".join(report.lines()))
    if not report.ok:
        raise SystemExit(1)


def _settings_problems(error: ValidationError) -> str:
    """Name the environment variables Settings refused, each with what it expects."""
    problems = []
    for problem in error.errors():
        name = "_".join(str(part) for part in problem["loc"]).upper()
        problems.append(f"PUSHAPI_{name}: {problem['msg']}")
    return "; ".join(problems)


def run(command: Callable[..., Any], args: list[str] | None = None) -> None:
    """Run a click command, turning user errors into one line on stderr and a non-zero exit."""
    try:
        command(args=args, prog_name="pushapi", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as shown:
        print(shown.ctx.get_help() if shown.ctx else "", file=sys.stderr)
        raise SystemExit(2) from None
    except click_errors.UsageError as error:
        _fail(error.format_message().replace("\n", " "), status=2)
    except click_errors.ClickException as error:
        _fail(error.format_message().replace("\n", " "))
    except typer.Abort:
        _fail("aborted")
    except typer.Exit as done:
        raise SystemExit(done.exit_code) from None
    except (CliError, TenantError) as error:
        _fail(str(error))
    except ValidationError as error:  # a PUSHAPI_* variable that Settings refuses
        _fail(f"invalid setting: {_settings_problems(error)}")
    except KeyboardInterrupt:
        _fail("interrupted", status=130)


def main() -> None:
    """Console-script entry point."""
    run(typer.main.get_command(app))
