"""The admin CLI (SPEC 2): tenants and keys, the schema, `serve --demo`, and errors that are one
line on stderr, never a traceback.

Most commands run in-process through `pushapi.cli.run` (what the console script calls); a few
run as `python -m pushapi` subprocesses to cover the real entry point.
"""

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from conftest import ADMIN_URL, EXAMPLES, _postgres_admin
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, make_url, select, text
from support.server import ServerProcess, free_port, launch_server

from pushapi import cli
from pushapi.app import create_app
from pushapi.config import Settings
from pushapi.store.engine import build_engine, normalise_url
from pushapi.store.operators import operator_password_matches
from pushapi.store.tables import operators

COMMAND = typer.main.get_command(cli.app)
ERROR_PREFIX = "pushapi: error: "
PINNED_JSON_KEYS = {"tenant", "platform", "region", "api_key", "key_id"}


@dataclass
class Outcome:
    """What a command did: its exit status and what it printed."""

    status: int
    out: str
    err: str

    @property
    def last_line(self) -> str:
        return self.out.strip().splitlines()[-1]


def _exit_status(done: SystemExit) -> int:
    return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)


@pytest.fixture
def pushapi(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """Run `pushapi ARGS...` in-process, as the console script does."""

    def invoke(*args: str) -> Outcome:
        capsys.readouterr()
        try:
            cli.run(COMMAND, list(args))
            status = 0
        except SystemExit as done:
            status = _exit_status(done)
        captured = capsys.readouterr()
        return Outcome(status, captured.out, captured.err)

    return invoke


def _environment() -> dict[str, str]:
    """The environment of a subprocess, without settings that would point it elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PUSHAPI_")}


def pushapi_process(*args: str, cwd: Path | None = None) -> Outcome:
    """Run `python -m pushapi ARGS...` as a separate process."""
    done = subprocess.run(
        [sys.executable, "-m", "pushapi", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=_environment(),
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def new_code() -> str:
    return f"cli-{secrets.token_hex(5)}"


def assert_one_line_error(outcome: Outcome, *mentions: str) -> str:
    """SPEC 2: a CLI error is one clear line on stderr and a non-zero exit, never a traceback."""
    assert outcome.status != 0, outcome
    assert "Traceback" not in outcome.err + outcome.out, outcome
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith(ERROR_PREFIX), lines[0]
    for mention in mentions:
        assert mention in lines[0], lines[0]
    return lines[0]


def api_status(client: TestClient, api_key: str) -> int:
    """The status a read of the API answers with this key."""
    return client.get("/v2/contacts", headers={"ApiKey": api_key}).status_code


def push_status(base_url: str, api_key: str) -> int:
    """The status a real server answers a small push with this key."""
    record = {"ContactDetails": {"ContactId": "cli-1", "FirstName": "Ada"}}
    response = httpx.post(
        f"{base_url}/v2/contactinfo", json=[record], headers={"ApiKey": api_key}, timeout=30
    )
    return response.status_code


def create_tenant(pushapi: Callable[..., Outcome], database_url: str, *args: str) -> Any:
    """Create a tenant with `--json` and return what it printed."""
    code = new_code()
    outcome = pushapi("tenants", "create", code, *args, "--json", "--database-url", database_url)
    assert outcome.status == 0, outcome
    return json.loads(outcome.out)


def _schema_state(url: str) -> tuple[set[str], list[str]]:
    """The tables of a database and the migration revisions it records."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version"))
            versions = sorted(row[0] for row in rows)
            return set(inspect(conn).get_table_names()), versions
    finally:
        engine.dispose()


@pytest.fixture
def app_client() -> Iterator[Callable[[str], TestClient]]:
    """A client of an app built on a given database URL (closed after the test)."""
    opened: list[TestClient] = []

    def make(database_url: str) -> TestClient:
        test_client = TestClient(create_app(Settings(database_url=database_url)))
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield make
    for test_client in opened:
        test_client.__exit__(None, None, None)


# -- tenants create ----------------------------------------------------------------------------


def test_tenants_create_prints_the_key_alone_on_the_last_line(database_url, client):
    code = new_code()
    outcome = pushapi_process(
        "tenants", "create", code, "--platform", "community", "--database-url", database_url
    )
    assert outcome.status == 0, outcome
    key = outcome.last_line
    assert key == key.strip() and " " not in key and len(key) >= 22
    assert api_status(client, key) == 200
    response = client.post(
        "/v2/contactinfo",
        content=(EXAMPLES / "canonical-contacts.json").read_bytes(),
        headers={"ApiKey": key, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


def test_tenants_create_json_has_exactly_the_pinned_keys(pushapi, database_url, client):
    code = new_code()
    outcome = pushapi(
        "tenants", "create", code, "--platform", "marketing-pro", "--region", "us",
        "--json", "--database-url", database_url,
    )  # fmt: skip
    assert outcome.status == 0, outcome
    created = json.loads(outcome.out)
    assert set(created) == PINNED_JSON_KEYS
    assert (created["tenant"], created["platform"], created["region"]) == (
        code,
        "marketing-pro",
        "us",
    )
    assert api_status(client, created["api_key"]) == 200
    listed = pushapi("keys", "list", code, "--json", "--database-url", database_url)
    assert [row["key_id"] for row in json.loads(listed.out)] == [created["key_id"]]


def test_tenants_create_region_places_the_tenant(pushapi, database_url, client):
    created = create_tenant(pushapi, database_url, "--platform", "community", "--region", "ca")
    assert created["region"] == "ca"
    # SPEC 3: this server serves region us, so the tenant's key is answered with 421.
    response = client.get("/v2/contacts", headers={"ApiKey": created["api_key"]})
    assert response.status_code == 421
    assert "'ca'" in response.json()["message"]


def test_tenants_create_on_a_new_sqlite_file_creates_the_schema(pushapi, tmp_path, app_client):
    database = tmp_path / "brand-new.db"
    url = f"sqlite:///{database}"
    assert not database.exists()
    outcome = pushapi(
        "tenants", "create", "acme", "--platform", "community", "--json", "--database-url", url
    )
    assert outcome.status == 0, outcome
    created = json.loads(outcome.out)
    assert {"tenants", "api_keys", "contacts"} <= _schema_state(url)[0]
    record = {"ContactDetails": {"ContactId": "C1", "LastName": "Lee"}}
    response = app_client(url).post(
        "/v2/contactinfo",
        json=[record],
        headers={"ApiKey": created["api_key"], "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1


def test_tenants_create_community_group_types_decide_group_kind(pushapi, database_url, client):
    created = create_tenant(
        pushapi, database_url, "--platform", "community", "--community-group-types", "Board,Forum"
    )
    groups = [
        {"GroupId": "g-board", "GroupType": "Board"},
        {"GroupId": "g-comm", "GroupType": "Committee"},
    ]
    record = {"ContactDetails": {"ContactId": "C1", "LastName": "Lee"}, "Groups": groups}
    headers = {"ApiKey": created["api_key"], "Content-Type": "application/json"}
    assert client.post("/v2/contactinfo", json=[record], headers=headers).status_code == 200
    items = client.get("/v2/groups", headers=headers).json()["items"]
    # SPEC 4.1: community when the GroupType is one of the tenant's types, security otherwise.
    assert {g["GroupId"]: g["Kind"] for g in items} == {
        "g-board": "community",
        "g-comm": "security",
    }


# -- tenants list ------------------------------------------------------------------------------


def test_tenants_list_shows_every_tenant_in_both_forms(pushapi, database_url):
    first = create_tenant(pushapi, database_url, "--platform", "community-essentials")
    second = create_tenant(pushapi, database_url, "--platform", "marketing-pro", "--region", "ca")
    plain = pushapi("tenants", "list", "--database-url", database_url)
    assert plain.status == 0, plain
    rows = {line.split()[0]: line.split() for line in plain.out.splitlines() if line.strip()}
    assert rows[first["tenant"]][1:3] == ["community-essentials", "us"]
    assert rows[second["tenant"]][1:3] == ["marketing-pro", "ca"]
    listed = json.loads(pushapi("tenants", "list", "--json", "--database-url", database_url).out)
    by_code = {row["tenant"]: row for row in listed}
    assert (by_code[first["tenant"]]["platform"], by_code[first["tenant"]]["region"]) == (
        "community-essentials",
        "us",
    )
    assert by_code[second["tenant"]]["region"] == "ca"
    for secret in (first["api_key"], second["api_key"]):
        assert secret not in plain.out + json.dumps(listed)


# -- keys --------------------------------------------------------------------------------------


def test_keys_create_adds_a_key_and_the_first_stays_valid(pushapi, database_url, client):
    created = create_tenant(pushapi, database_url, "--platform", "community")
    code = created["tenant"]
    plain = pushapi("keys", "create", code, "--database-url", database_url)
    assert plain.status == 0, plain
    second_key = plain.last_line
    as_json = json.loads(
        pushapi("keys", "create", code, "--json", "--database-url", database_url).out
    )
    assert {"api_key", "key_id"} <= set(as_json)
    keys = {created["api_key"], second_key, as_json["api_key"]}
    assert len(keys) == 3
    assert all(api_status(client, key) == 200 for key in keys)


def test_keys_list_shows_ids_and_last_use_but_never_the_secret(pushapi, database_url, client):
    created = create_tenant(pushapi, database_url, "--platform", "community")
    code = created["tenant"]
    extra = json.loads(
        pushapi("keys", "create", code, "--json", "--database-url", database_url).out
    )
    assert api_status(client, created["api_key"]) == 200
    client.app.state.writer.flush()  # a key's use is recorded off the request, a moment later
    plain = pushapi("keys", "list", code, "--database-url", database_url)
    listed = pushapi("keys", "list", code, "--json", "--database-url", database_url)
    assert plain.status == 0 and listed.status == 0
    rows = {row["key_id"]: row for row in json.loads(listed.out)}
    assert set(rows) == {created["key_id"], extra["key_id"]}
    assert rows[created["key_id"]]["last_used_at"] is not None
    assert rows[extra["key_id"]]["last_used_at"] is None
    assert all(row["created_at"] and row["revoked_at"] is None for row in rows.values())
    assert created["key_id"] in plain.out and extra["key_id"] in plain.out
    for secret in (created["api_key"], extra["api_key"]):
        # Neither the key nor the random part at its end may be printed.
        assert secret not in plain.out + listed.out
        assert secret[-16:] not in plain.out + listed.out


def test_revoked_key_is_refused_at_once_by_a_running_server(pushapi, database_url, start_server):
    server = start_server()
    # SPEC 2: tenants and keys created or revoked while the server runs take effect at once.
    created = create_tenant(pushapi, database_url, "--platform", "community")
    code = created["tenant"]
    other = json.loads(
        pushapi("keys", "create", code, "--json", "--database-url", database_url).out
    )
    assert push_status(server.base_url, created["api_key"]) == 200
    assert push_status(server.base_url, other["api_key"]) == 200
    revoked = pushapi("keys", "revoke", code, created["key_id"], "--database-url", database_url)
    assert revoked.status == 0, revoked
    assert push_status(server.base_url, created["api_key"]) == 401
    assert push_status(server.base_url, other["api_key"]) == 200
    rows = json.loads(pushapi("keys", "list", code, "--json", "--database-url", database_url).out)
    states = {row["key_id"]: row["revoked_at"] is not None for row in rows}
    assert states == {created["key_id"]: True, other["key_id"]: False}


# -- db upgrade --------------------------------------------------------------------------------


def test_db_upgrade_on_a_new_file_is_idempotent(pushapi, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = pushapi("db", "upgrade", "--database-url", url)
    assert first.status == 0, first
    after_first = _schema_state(url)
    assert {"tenants", "api_keys", "contacts"} <= after_first[0]
    assert len(after_first[1]) == 1
    second = pushapi("db", "upgrade", "--database-url", url)
    assert second.status == 0, second
    assert _schema_state(url) == after_first


def test_db_upgrade_keeps_existing_tenants(pushapi, database_url, client):
    created = create_tenant(pushapi, database_url, "--platform", "community")
    before = _schema_state(database_url)
    for _ in range(2):
        outcome = pushapi("db", "upgrade", "--database-url", database_url)
        assert outcome.status == 0, outcome
    assert _schema_state(database_url) == before
    assert api_status(client, created["api_key"]) == 200


@pytest.fixture
def empty_database(engine_name: str, tmp_path: Path) -> Iterator[str]:
    """A URL of a database that exists but has no schema yet, on the session's engine."""
    if engine_name == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"pushapi_cli_{secrets.token_hex(5)}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with _postgres_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_concurrent_commands_on_an_empty_database_all_succeed(empty_database):
    # Operators start a server and run `tenants create` at once on a new database: whichever
    # creates the schema, the other must wait for it rather than fail.
    commands = [
        ["db", "upgrade"],
        ["tenants", "create", "first", "--platform", "community"],
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pushapi", *args, "--database-url", empty_database],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_environment(),
        )
        for args in commands
    ]
    outcomes = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        outcomes.append(Outcome(process.returncode, out, err))
    assert [o.status for o in outcomes] == [0, 0], outcomes


# -- errors: one line on stderr, non-zero exit, no traceback ------------------------------------


def test_tenants_create_with_unknown_platform_fails_and_creates_nothing(pushapi, database_url):
    code = new_code()
    outcome = pushapi(
        "tenants", "create", code, "--platform", "enterprise", "--database-url", database_url
    )
    assert_one_line_error(outcome, "enterprise")
    listed = pushapi("tenants", "list", "--json", "--database-url", database_url).out
    assert code not in {row["tenant"] for row in json.loads(listed)}


def test_tenants_create_with_unknown_region_fails_and_creates_nothing(pushapi, database_url):
    code = new_code()
    outcome = pushapi(
        "tenants", "create", code, "--platform", "community", "--region", "eu",
        "--database-url", database_url,
    )  # fmt: skip
    assert_one_line_error(outcome, "eu")
    listed = pushapi("tenants", "list", "--json", "--database-url", database_url).out
    assert code not in {row["tenant"] for row in json.loads(listed)}


def test_tenants_create_twice_fails_and_keeps_the_first_key(pushapi, database_url, client):
    created = create_tenant(pushapi, database_url, "--platform", "community")
    again = pushapi(
        "tenants", "create", created["tenant"], "--platform", "marketing-pro",
        "--database-url", database_url,
    )  # fmt: skip
    assert_one_line_error(again, created["tenant"])
    assert again.out == ""
    assert api_status(client, created["api_key"]) == 200


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["keys", "create"], id="create"),
        pytest.param(["keys", "list"], id="list"),
        pytest.param(["keys", "revoke", "0123456789ab"], id="revoke"),
    ],
)
def test_keys_of_an_unknown_tenant_fail(pushapi, database_url, command):
    code = new_code()
    args = [*command[:2], code, *command[2:]]
    assert_one_line_error(pushapi(*args, "--database-url", database_url), code)


def test_revoking_an_unknown_key_id_fails_and_keeps_the_keys(pushapi, database_url, client):
    created = create_tenant(pushapi, database_url, "--platform", "community")
    outcome = pushapi(
        "keys", "revoke", created["tenant"], "feedfacecafe", "--database-url", database_url
    )
    assert_one_line_error(outcome, "feedfacecafe")
    assert api_status(client, created["api_key"]) == 200


def _missing_directory(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'pushapi.db'}"


def _closed_postgresql_port(tmp_path: Path) -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"


@pytest.mark.parametrize(
    ("args", "mention"),
    [
        pytest.param(["tenants", "create", "--platform", "community"], "code", id="missing-arg"),
        pytest.param(["tenants", "create", "acme"], "--platform", id="missing-option"),
        pytest.param(["frobnicate"], "frobnicate", id="unknown-command"),
        pytest.param(["tenants", "delete", "acme"], "delete", id="unknown-subcommand"),
        pytest.param(["tenants", "list", "--colour"], "--colour", id="unknown-option"),
        pytest.param(["serve", "--port", "http"], "--port", id="bad-option-value"),
    ],
)
def test_usage_errors_are_one_line(pushapi, args, mention):
    assert_one_line_error(pushapi(*args), mention)


@pytest.mark.parametrize(
    "make_url_for",
    [
        pytest.param(_missing_directory, id="sqlite-missing-directory"),
        pytest.param(_closed_postgresql_port, id="postgresql-closed-port"),
        pytest.param(lambda _: "not a database url", id="not-a-url"),
        pytest.param(lambda _: "postgresql://postgres@127.0.0.1:port/db", id="bad-port"),
        pytest.param(lambda _: "http://example.org/pushapi", id="not-a-database"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["tenants", "list"], id="tenants-list"),
        pytest.param(["tenants", "create", "acme", "--platform", "community"], id="create"),
        pytest.param(["db", "upgrade"], id="db-upgrade"),
    ],
)
def test_unusable_database_is_one_line(pushapi, tmp_path, make_url_for, command):
    url = make_url_for(tmp_path)
    assert_one_line_error(pushapi(*command, "--database-url", url))
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(
    ("args", "mention"),
    [
        pytest.param(["frobnicate"], "frobnicate", id="unknown-command"),
        pytest.param(
            ["tenants", "list", "--database-url", "postgresql://postgres@127.0.0.1:port/db"],
            "",
            id="bad-url",
        ),
    ],
)
def test_errors_of_the_installed_command_are_one_line(tmp_path, args, mention):
    # The real entry point (`python -m pushapi`), run in an empty directory.
    outcome = pushapi_process(*args, cwd=tmp_path)
    assert_one_line_error(outcome, mention)


# -- serve --demo ------------------------------------------------------------------------------


@pytest.fixture
def serve_demo(tmp_path: Path) -> Iterator[Callable[[Path], ServerProcess]]:
    """Start `pushapi serve --demo` in a directory (its ./pushapi.db), on a free port; the
    server's stdout is its log, stderr apart."""
    started: list[ServerProcess] = []

    def start(directory: Path) -> ServerProcess:
        server = launch_server(
            ["--demo"],
            tmp_path / f"demo-{len(started)}.out",
            env=_environment(),
            cwd=directory,
            stderr_path=tmp_path / f"demo-{len(started)}.err",
            timeout=60,
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_serve_demo_prints_the_key_once_and_it_works(serve_demo, tmp_path, pushapi):
    directory = tmp_path / "fresh"
    directory.mkdir()
    first = serve_demo(directory)
    key = first.log().strip().splitlines()[-1]
    assert first.log().count(key) == 1
    assert (directory / "pushapi.db").exists()
    assert push_status(first.base_url, key) == 200
    first.stop()

    second = serve_demo(directory)
    assert key not in second.log()
    assert push_status(second.base_url, key) == 200
    second.stop()
    url = f"sqlite:///{directory / 'pushapi.db'}"
    tenants = json.loads(pushapi("tenants", "list", "--json", "--database-url", url).out)
    assert [(t["tenant"], t["platform"]) for t in tenants] == [("demo", "community")]
    # The second start made no key of its own.
    keys = json.loads(pushapi("keys", "list", "demo", "--json", "--database-url", url).out)
    assert len(keys) == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        pytest.param("PUSHAPI_REGION", "xx", id="region"),
        pytest.param("PUSHAPI_MAX_RECORDS", "abc", id="not-a-number"),
        pytest.param("PUSHAPI_MAX_BODY_BYTES", "0", id="out-of-range"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["tenants", "list"], id="tenants-list"),
        pytest.param(["serve", "--port", "1"], id="serve"),
    ],
)
def test_invalid_setting_in_the_environment_is_one_line_naming_it(
    pushapi, tmp_path, monkeypatch, variable, value, command
):
    monkeypatch.setenv(variable, value)
    url = f"sqlite:///{tmp_path / 'pushapi.db'}"
    assert_one_line_error(pushapi(*command, "--database-url", url), variable)


# Operators of the console (SPEC 9) ------------------------------------------------------------


def test_create_prints_the_password_once_and_keeps_only_a_slow_hash(pushapi, database_url):
    name = f"op-{secrets.token_hex(4)}"
    made = pushapi("operators", "create", name, "--json", "--database-url", database_url)
    assert made.status == 0, made.err
    shown = json.loads(made.out)
    assert set(shown) == {"name", "password"} and shown["name"] == name
    assert len(shown["password"]) >= 20
    engine = build_engine(Settings(database_url=database_url))
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(operators).where(operators.c.name == name)).one()
            assert shown["password"] not in stored.password_hash
            assert stored.password_hash.startswith("$argon2id$")
            assert operator_password_matches(conn, name, shown["password"])
            assert not operator_password_matches(conn, name, shown["password"] + "x")
    finally:
        engine.dispose()
    listed = pushapi("operators", "list", "--json", "--database-url", database_url)
    assert name in [o["name"] for o in json.loads(listed.out)]
    assert shown["password"] not in listed.out
    plain = pushapi("operators", "list", "--database-url", database_url)
    assert any(line.startswith(f"{name}\t") for line in plain.out.splitlines())
    assert pushapi("operators", "delete", name, "--database-url", database_url).status == 0
    listed = pushapi("operators", "list", "--json", "--database-url", database_url)
    assert name not in [o["name"] for o in json.loads(listed.out)]


def test_plain_create_prints_the_password_alone_on_the_last_line(pushapi, database_url):
    name = f"op-{secrets.token_hex(4)}"
    made = pushapi("operators", "create", name, "--database-url", database_url)
    assert made.status == 0
    password = made.last_line
    engine = build_engine(Settings(database_url=database_url))
    try:
        with engine.connect() as conn:
            assert operator_password_matches(conn, name, password)
    finally:
        engine.dispose()
    pushapi("operators", "delete", name, "--database-url", database_url)


def test_operator_errors_are_one_line(pushapi, database_url):
    name = f"op-{secrets.token_hex(4)}"
    assert pushapi("operators", "create", name, "--database-url", database_url).status == 0
    twice = pushapi("operators", "create", name, "--database-url", database_url)
    assert_one_line_error(twice, "already exists")
    assert_one_line_error(
        pushapi("operators", "create", "bad name!", "--database-url", database_url), "invalid"
    )
    pushapi("operators", "delete", name, "--database-url", database_url)
    assert_one_line_error(
        pushapi("operators", "delete", name, "--database-url", database_url), "unknown operator"
    )
