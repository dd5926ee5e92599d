"""Fixtures, layered: database_url -> settings -> engine -> app -> client, and tenants made per
test (every test works in its own tenant, which also exercises tenant isolation).

The whole suite runs once per engine: SQLite always, PostgreSQL when it can be reached. Where
PostgreSQL cannot be reached its tests are skipped with a clear reason, unless
PUSHAPI_REQUIRE_POSTGRES=1 (CI sets it), which makes them fail instead.

Citus mode (PUSHAPI_TEST_CITUS_URL, a Citus coordinator with its workers registered): the
PostgreSQL databases are made on every node of that cluster instead (tests/support/citus.py),
and the session's database is distributed after migrating, as `pushapi db distribute` does.
Their connections make any statement Citus cannot route to one shard an error.
"""

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url, select
from support import citus
from support.receiver import Receiver, receiving
from support.server import ServerProcess, launch_server

from pushapi.app import create_app
from pushapi.config import Settings
from pushapi.store import tables
from pushapi.store.dialect import across_tenants
from pushapi.store.engine import build_engine
from pushapi.store.migrate import upgrade_database
from pushapi.store.tenants import create_tenant

ENGINES = [e for e in os.environ.get("PUSHAPI_TEST_ENGINES", "sqlite,postgresql").split(",") if e]
POSTGRES_ADMIN_URL = os.environ.get(
    "PUSHAPI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("PUSHAPI_REQUIRE_POSTGRES") == "1"
CITUS_URL = os.environ.get("PUSHAPI_TEST_CITUS_URL") or None
# Where the tests' PostgreSQL databases are: the Citus coordinator in Citus mode.
ADMIN_URL = CITUS_URL or POSTGRES_ADMIN_URL
EXAMPLES = Path(__file__).parent / "data"


def _postgres_admin(admin_url: str | None = None) -> psycopg.Connection[Any]:
    """A connection to the admin database of ADMIN_URL (or of `admin_url`)."""
    url = make_url(admin_url or ADMIN_URL)
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        dbname=url.database or "postgres",
        autocommit=True,
        connect_timeout=5,
    )


_postgres_skipped: list[str] = []
# Variables of the test suite itself (docs/configuration.md), kept when the others are cleared.
TEST_VARIABLES = frozenset(
    {
        "PUSHAPI_TEST_ENGINES",
        "PUSHAPI_TEST_POSTGRES_URL",
        "PUSHAPI_TEST_CITUS_URL",
        "PUSHAPI_REQUIRE_POSTGRES",
        "PUSHAPI_TEST_CHROMIUM",
        "PUSHAPI_REQUIRE_BROWSER",
        "PUSHAPI_REQUIRE_NATIVE",
        "PUSHAPI_REQUIRE_REDIS",
        "PUSHAPI_TEST_REDIS_URL",
    }
)


@pytest.fixture(autouse=True)
def no_pushapi_settings_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the PUSHAPI_* settings it sets itself, whatever the shell that runs
    the suite has set (a PUSHAPI_DATABASE_URL or PUSHAPI_API_KEY of the developer's own)."""
    for name in list(os.environ):
        if name.startswith("PUSHAPI_") and name not in TEST_VARIABLES:
            monkeypatch.delenv(name)


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_POSTGRES and "postgresql" not in ENGINES:
        raise pytest.UsageError(
            "PUSHAPI_REQUIRE_POSTGRES=1 but PUSHAPI_TEST_ENGINES leaves PostgreSQL out"
        )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say once, at the end, that the PostgreSQL half of the suite did not run, and why."""
    if _postgres_skipped:
        terminalreporter.write_sep("=", "PostgreSQL tests were SKIPPED", yellow=True, bold=True)
        terminalreporter.write_line(_postgres_skipped[0])
        terminalreporter.write_line(
            "Only SQLite was tested. Start PostgreSQL or set PUSHAPI_TEST_POSTGRES_URL "
            "(e.g. postgresql://postgres@127.0.0.1:5432/postgres); CI sets "
            "PUSHAPI_REQUIRE_POSTGRES=1 so that this fails instead."
        )


def _create_postgres_database(prefix: str) -> str:
    """A new, empty PostgreSQL database; skipped (or failed, in CI) when PostgreSQL is away.
    In Citus mode: on every node of the cluster, with the extension and the workers."""
    if CITUS_URL:
        return citus.create_database(CITUS_URL, f"{prefix}_{secrets.token_hex(6)}")
    try:
        admin = _postgres_admin()
    except psycopg.OperationalError as error:
        reason = " ".join(str(error).split())
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {reason}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        if not _postgres_skipped:
            _postgres_skipped.append(message)
        pytest.skip(message + " (PostgreSQL tests skipped)")
    name = f"{prefix}_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(url: str) -> None:
    if CITUS_URL:
        citus.drop_database(CITUS_URL, str(make_url(url).database))
        return
    with _postgres_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@pytest.fixture(scope="session", params=ENGINES)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A brand-new, empty database for this test session, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'pushapi.db'}"
        return
    url = _create_postgres_database("pushapi_test")
    if CITUS_URL:
        citus.migrate_and_distribute(url)
    yield url
    _drop_postgres_database(url)


@pytest.fixture
def make_empty_database(engine_name: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Make brand-new databases without any schema, of the session's engine (for migrations)."""
    made: list[str] = []

    def make() -> str:
        if engine_name == "sqlite":
            return f"sqlite:///{tmp_path / f'empty-{secrets.token_hex(4)}.db'}"
        made.append(_create_postgres_database("pushapi_empty"))
        return made[-1]

    yield make
    for url in made:
        _drop_postgres_database(url)


@pytest.fixture(scope="session")
def engine_name(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # The in-process apps deliver no webhooks: the server processes of tests/test_webhooks.py
    # do, on the same database.
    return Settings(database_url=database_url, webhooks_delivery="off")


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = build_engine(settings)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings, engine: Engine) -> Any:
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def make_client(settings: Settings, engine: Engine) -> Iterator[Callable[..., TestClient]]:
    """A client of an app built with some settings changed (e.g. max_records=3)."""
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        app = create_app(settings.model_copy(update=overrides))
        test_client = TestClient(app, raise_server_exceptions=False)
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield make
    for test_client in opened:
        test_client.__exit__(None, None, None)


@dataclass
class TestTenant:
    """A tenant made for one test, with its key and the headers a push needs."""

    __test__ = False
    tenant_id: int
    code: str
    platform: str
    api_key: str
    key_id: str
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def make_tenant(engine: Engine) -> Callable[..., TestTenant]:
    def make(platform: str = "community", region: str = "us", **options: Any) -> TestTenant:
        code = f"t-{secrets.token_hex(5)}"
        tenant, key = create_tenant(engine, code, platform, region, **options)
        return TestTenant(
            tenant.tenant_id,
            code,
            platform,
            key.api_key,
            key.key_id,
            {"ApiKey": key.api_key, "Content-Type": "application/json"},
        )

    return make


@pytest.fixture
def tenant(make_tenant: Callable[..., TestTenant]) -> TestTenant:
    return make_tenant()


@pytest.fixture
def snapshot(engine: Engine) -> Callable[[TestTenant], dict[str, list[tuple[Any, ...]]]]:
    """Every stored row of a tenant, table by table: compare two to show nothing changed."""

    def take(test_tenant: TestTenant) -> dict[str, list[tuple[Any, ...]]]:
        state = {}
        with engine.connect() as conn:
            for table in tables.metadata.sorted_tables:
                # push_days adds up the push log, which records refused pushes too.
                if table.name in ("tenants", "api_keys", "push_log", "push_days"):
                    continue
                if "tenant_id" not in table.c:  # the console's operators and sessions
                    continue
                rows = conn.execute(
                    select(table)
                    .where(table.c.tenant_id == test_tenant.tenant_id)
                    .order_by(*table.primary_key.columns)
                ).all()
                state[table.name] = [tuple(row) for row in rows]
        return state

    return take


@pytest.fixture
def start_server(database_url: str, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `pushapi serve` processes against the session's database; all are stopped after."""
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> ServerProcess:
        log_path = tmp_path / f"server-{len(started)}.log"
        server = launch_server(
            ["--database-url", database_url, *args],
            log_path,
            env={**os.environ, **(env or {})},
            timeout=timeout,
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def receiver(engine: Engine) -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 (tests/support/receiver.py). Every webhook subscription
    is deleted after the test, so that no later server delivers it."""
    with receiving() as state:
        yield state
    with engine.begin() as conn:
        across_tenants(conn)
        conn.execute(tables.webhooks.delete())
