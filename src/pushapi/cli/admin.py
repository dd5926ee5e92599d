"""The operator's commands (SPEC 2): serve, the database schema, tenants and their API keys."""

import os
import secrets
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pushapi.cli.common import (
    DEFAULT_DATABASE_URL,
    CliError,
    DatabaseUrl,
    Json,
    database,
    print_json,
)
from pushapi.tenants import DEFAULT_COMMUNITY_GROUP_TYPES, PLATFORMS, REGIONS

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer()  # the commands at the top level: serve
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of a tenant.", no_args_is_help=True)


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

    from pushapi.metrics import metrics_shared_by_workers
    from pushapi.schema.compiled import NATIVE
    from pushapi.serving import PROTOCOL, port_problem

    problem = port_problem(host, port)
    if problem is not None:
        raise CliError(problem)
    with database(database_url) as engine:
        if demo:
            _ensure_demo_tenant(engine)
    # Every worker process builds its app from the environment (SPEC 2: PUSHAPI_* variables).
    os.environ["PUSHAPI_DATABASE_URL"] = database_url
    # One key signs the console's cookies in every worker (docs/configuration.md).
    os.environ.setdefault("PUSHAPI_CONSOLE_SECRET_KEY", secrets.token_urlsafe(32))
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
            http=PROTOCOL,
        )


def _ensure_demo_tenant(engine: "Engine") -> None:
    from pushapi.store.tenants import create_tenant, find_tenant
    from pushapi.tenants import TenantError

    try:
        find_tenant(engine, "demo")
    except TenantError:
        from pushapi.config import Settings
        from pushapi.demo import seed_demo

        tenant, key = create_tenant(engine, "demo", "community")
        seed_demo(engine, Settings(), tenant, key.key_id)
        print("Created tenant 'demo' (platform community) with example data (docs/console.md).")
        print("Its API key, shown only once:")
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
    with database(database_url):
        print("database is at the newest schema")


@db_app.command("distribute")
def db_distribute(
    existing_data: Annotated[
        bool,
        typer.Option(
            "--existing-data",
            help="Move rows already stored to the workers (no pushapi server may run meanwhile)",
        ),
    ] = False,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Distribute the schema over Citus: data by tenant, co-located; tenants and keys held by
    every node (docs/operations.md)."""
    from pushapi.store.distribute import DistributeError, distribute
    from pushapi.store.tables import metadata

    with database(database_url) as engine:
        try:
            done = distribute(engine, metadata, existing_data=existing_data, say=print)
        except DistributeError as error:
            raise CliError(str(error)) from None
    if done:
        print("the schema is distributed")
    else:
        print("the schema was distributed already")


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
    from pushapi.store.tenants import create_tenant

    types = tuple(t for t in community_group_types.split(","))
    with database(database_url) as engine:
        tenant, key = create_tenant(engine, code, platform, region, types)
    if json:
        print_json(
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
    from pushapi.store.tenants import list_tenants

    with database(database_url) as engine:
        found = list_tenants(engine)
    if json:
        print_json([_tenant_json(t) for t in found])
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
    from pushapi.store.tenants import create_key

    with database(database_url) as engine:
        key = create_key(engine, code)
    if json:
        print_json({"tenant": code, "api_key": key.api_key, "key_id": key.key_id})
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
    from pushapi.store.tenants import list_keys

    with database(database_url) as engine:
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
        print_json(rows)
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
    from pushapi.store.tenants import revoke_key

    with database(database_url) as engine:
        revoke_key(engine, code, key_id)
    print(f"revoked key {key_id} of tenant {code!r}")
