"""Fixtures, layered: database_url -> settings -> engine -> app -> client, and tenants made per
test (every test works in its own tenant, which also exercises tenant isolation).

The whole suite runs once per engine: SQLite always, PostgreSQL when it can be reached. Where
PostgreSQL cannot be reached its tests are skipped with a clear reason, unless
PUSHAPI_REQUIRE_POSTGRES=1 (CI sets it), which makes them fail instead.
"""

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url, select

from pushapi.app import create_app
from pushapi.config import Settings
from pushapi.store import tables
from pushapi.store.engine import build_engine
from pushapi.store.migrate import upgrade_database
from pushapi.tenants import create_tenant

ENGINES = [e for e in os.environ.get("PUSHAPI_TEST_ENGINES", "sqlite,postgresql").split(",") if e]
POSTGRES_ADMIN_URL = os.environ.get(
    "PUSHAPI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("PUSHAPI_REQUIRE_POSTGRES") == "1"
EXAMPLES = Path(__file__).parent / "data"


def _postgres_admin() -> psycopg.Connection[Any]:
    url = make_url(POSTGRES_ADMIN_URL)
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
    """A new, empty PostgreSQL database; skipped (or failed, in CI) when PostgreSQL is away."""
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
    return Settings(database_url=database_url)


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
                if table.name in ("tenants", "api_keys", "push_log"):
                    continue
                rows = conn.execute(
                    select(table)
                    .where(table.c.tenant_id == test_tenant.tenant_id)
                    .order_by(*table.primary_key.columns)
                ).all()
                state[table.name] = [tuple(row) for row in rows]
        return state

    return take


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """A real `pushapi serve` process on a free port."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def stop(self, sig: int | None = None) -> None:
        if self.process.poll() is None:
            if sig is None:
                self.process.terminate()
            else:
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def start_server(database_url: str, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `pushapi serve` processes against the session's database; all are stopped after."""
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> ServerProcess:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "pushapi", "serve", "--port", str(port),
                 "--database-url", database_url, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )  # fmt: skip
        server = ServerProcess(process, f"http://127.0.0.1:{port}", log_path)
        started.append(server)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early: {log_path.read_text()}")
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start in {timeout} s: {log_path.read_text()}")

    yield start
    for server in started:
        server.stop()
