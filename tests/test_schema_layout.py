"""The schema distributes by tenant (SPEC 7): every primary key starts with `tenant_id`, the
unique keys of tenant data include it, and no statement a request runs reaches past its tenant.

That is what lets the data tables be sharded by `tenant_id` (e.g. Citus distributed tables,
docs/operations.md). `tenants` and `api_keys` are the exception by design: they are how a
request finds its tenant, so they are small reference tables that every node holds whole.
"""

import json
import re
import threading
from collections.abc import Callable
from typing import Any

from conftest import EXAMPLES, TestTenant
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, inspect

from pushapi.push.endpoints import PUSH_ENDPOINTS
from pushapi.store.distribute import layout
from pushapi.store.tables import metadata

REFERENCE_TABLES = set(layout(metadata).reference)  # what `pushapi db distribute` makes them
# The console's operators and sessions (SPEC 9) belong to no tenant: reference tables too.
CONSOLE_TABLES = {"operators", "console_sessions"}
TENANT_TABLES = set(metadata.tables) - REFERENCE_TABLES

# One valid record per push endpoint, enough to make every read return something.
SAMPLE_RECORDS: dict[str, list[dict[str, Any]]] = {
    "contactinfo": json.loads((EXAMPLES / "canonical-contacts.json").read_text()),
    "list": [{"ListId": "L1", "ListName": "One", "Mode": "Add", "ContactIds": ["C000001"]}],
    "meeting": [{"MeetingId": "M1", "Title": "Annual meeting"}],
    "product": [{"ProductId": "P1", "ProductName": "Membership", "Price": 10}],
}
# Values for the path parameters of the read routes, by the word the parameter is named after.
PATH_VALUES = {
    "contact": "C000001",
    "group": "G005",
    "list": "L1",
    "meeting": "M1",
    "product": "P1",
}


def test_every_declared_table_has_a_primary_key_starting_with_tenant_id() -> None:
    for table in metadata.sorted_tables:
        if table.name in CONSOLE_TABLES:
            assert "tenant_id" not in table.c, table.name
            continue
        columns = [column.name for column in table.primary_key.columns]
        assert columns[:1] == ["tenant_id"], f"{table.name}: primary key {columns}"


def test_every_migrated_table_has_a_primary_key_starting_with_tenant_id(engine: Engine) -> None:
    """The database the migrations built, not only the models, distributes by tenant."""
    inspector = inspect(engine)
    names = set(inspector.get_table_names()) - {"alembic_version"}
    assert names == set(metadata.tables)
    for name in sorted(names - CONSOLE_TABLES):
        columns = inspector.get_pk_constraint(name)["constrained_columns"]
        assert columns[:1] == ["tenant_id"], f"{name}: primary key {columns}"


def test_unique_keys_of_tenant_tables_include_tenant_id(engine: Engine) -> None:
    """A sharded table can only enforce uniqueness within a shard, i.e. within a tenant."""
    inspector = inspect(engine)
    for name in sorted(TENANT_TABLES):
        uniques = [c["column_names"] for c in inspector.get_unique_constraints(name)]
        uniques += [i["column_names"] for i in inspector.get_indexes(name) if i["unique"]]
        for columns in uniques:
            assert "tenant_id" in columns, f"{name}: unique key {columns} without tenant_id"


def _changed(record: dict[str, Any]) -> dict[str, Any]:
    """The record with one value changed, so that pushing it updates what was stored."""
    if "ContactDetails" in record:
        return {**record, "ContactDetails": {**record["ContactDetails"], "Title": "Changed"}}
    if "ListId" in record:
        return {**record, "ContactIds": ["C000002"]}
    name = "Title" if "MeetingId" in record else "ProductName"
    return {**record, name: "Changed"}


def _table_references(statement: str, table: str) -> list[str]:
    """The names `table` goes by in `statement` (itself or its aliases), empty if unused."""
    pattern = rf'\b(?:FROM|JOIN|INTO|UPDATE)\s+"?{table}"?(?:\s+AS\s+"?(\w+)"?)?(?=[\s(,;)]|$)'
    return [alias or table for alias in re.findall(pattern, statement, re.IGNORECASE)]


def _crosses_tenants(statement: str) -> list[str]:
    """The tenant tables `statement` reads or writes without restricting them to a tenant."""
    unrestricted = []
    for table in TENANT_TABLES:
        for name in _table_references(statement, table):
            if statement.lstrip().upper().startswith("INSERT"):
                restricted = re.search(r"\(\s*[^)]*\btenant_id\b", statement) is not None
            else:
                restricted = (
                    re.search(rf'"?\b{name}"?\."?tenant_id"?\s*(=|IN\b)', statement, re.I)
                    is not None
                )
            if not restricted:
                unrestricted.append(table)
    return unrestricted


def _statements_of_every_endpoint(client: TestClient, tenant: TestTenant) -> list[str]:
    """Call every push endpoint and every read route; the SQL statements they ran."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    # The app's engine, and the one its background writer uses (the first of the process for
    # this database).
    engines = {id(e): e for e in (client.app.state.engine, client.app.state.writer.engine)}
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", record)
    try:
        request_id = ""
        for endpoint in PUSH_ENDPOINTS:
            records = SAMPLE_RECORDS[endpoint.name]
            # Pushed as they are, again (recognised, unchanged), then changed (updated).
            for attempt in (records, records, [_changed(record) for record in records]):
                response = client.post(f"/v2/{endpoint.name}", json=attempt, headers=tenant.headers)
                assert response.status_code == 200, response.text
            request_id = response.json()["requestId"]
            rejected = client.post(f"/v2/{endpoint.name}", json=[{}], headers=tenant.headers)
            assert rejected.status_code == 400, rejected.text
        values = {**PATH_VALUES, "request": request_id}
        paths = client.get("/openapi.json").json()["paths"]
        reads = [path for path in paths if path.startswith("/v2/") and "get" in paths[path]]
        assert len(reads) >= 6, reads
        for template in reads:
            path = re.sub(r"{(\w+)}", lambda m: values.get(m[1].split("_")[0], "x"), template)
            response = client.get(path, headers=tenant.headers)
            assert response.status_code == 200, f"GET {path}: {response.text}"
        client.app.state.writer.flush()  # the key's last use, written off the request
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", record)
    return statements


def test_no_statement_of_a_request_reaches_past_its_tenant(
    make_client: Callable[..., TestClient], make_tenant: Callable[..., TestTenant]
) -> None:
    statements = _statements_of_every_endpoint(make_client(), make_tenant())
    touching = [s for s in statements if any(_table_references(s, t) for t in TENANT_TABLES)]
    assert len(touching) >= 10, statements
    offending = {s: _crosses_tenants(s) for s in touching if _crosses_tenants(s)}
    assert offending == {}


def test_requests_leave_the_reference_tables_as_they_are(
    make_client: Callable[..., TestClient], make_tenant: Callable[..., TestTenant]
) -> None:
    """Pushes move on what is theirs in `tenant_state`, distributed like the data: a write to
    a reference table would lock it on every node, across tenants, until the push commits.
    The one write is the key's last use, by the background writer, off the request."""
    statements = _statements_of_every_endpoint(make_client(), make_tenant())
    writes = [
        s
        for s in statements
        for table in REFERENCE_TABLES
        if re.match(rf'\s*(UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+"?{table}\b', s, re.I)
    ]
    assert writes, "the key's last use was written"
    assert all(re.match(r'\s*UPDATE\s+"?api_keys"?\s+SET\s+last_used_at\b', s, re.I)
               for s in writes), writes  # fmt: skip


def test_a_keys_last_use_is_written_once_batched_off_the_requests(
    make_client: Callable[..., TestClient], make_tenant: Callable[..., TestTenant]
) -> None:
    """`api_keys` is a reference table on Citus: many requests with one key write its last use
    once (LAST_USED_RESOLUTION), from the background writer's thread, in a transaction of its
    own, never in a push's."""
    client, tenant = make_client(), make_tenant()
    writes: list[tuple[str, str, int]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if re.match(r'\s*UPDATE\s+"?api_keys"?', statement, re.I):
            many = len(parameters) if isinstance(parameters, list) else 1
            writes.append((statement, threading.current_thread().name, many))

    engines = {id(e): e for e in (client.app.state.engine, client.app.state.writer.engine)}
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", record)
    try:
        records = SAMPLE_RECORDS["contactinfo"]
        for _round in range(2):
            for _push in range(3):
                response = client.post("/v2/contactinfo", json=records, headers=tenant.headers)
                assert response.status_code == 200, response.text
            client.app.state.writer.flush()
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", record)
    assert [(thread, many) for _statement, thread, many in writes] == [
        ("pushapi-background-writer", 1)
    ], writes
