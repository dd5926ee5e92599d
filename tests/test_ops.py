"""Operations (SPEC 6): /healthz, /metrics, /openapi.json, /docs and the structured logs."""

import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import _postgres_admin
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, make_url, select

import pushapi.store.contacts
import pushapi.store.health
from pushapi.app import create_app
from pushapi.config import Settings
from pushapi.logs import ACCESS_LOGGER, JsonLineFormatter
from pushapi.push.endpoints import PUSH_ENDPOINTS
from pushapi.schema.contact import CONTACT_DETAILS, CONTACT_INFO
from pushapi.schema.fields import Need, walk
from pushapi.serving import ARENAS
from pushapi.store.engine import build_engine
from pushapi.store.migrate import upgrade_database
from pushapi.store.tables import contacts

PUSH = "/v2/contactinfo"
DISTINCTIVE = "Wolfeschlegel"  # a contact value that must never reach a log line


def contact(contact_id: str, **details: Any) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": contact_id, "LastName": "Ops", **details}}


def key_secret(api_key: str) -> str:
    """The secret part of a key `pk_<12-hex key id>_<secret>` (the secret may itself hold "_")."""
    return api_key[len("pk_") + 12 + 1 :]


def distinctive_contact(contact_id: str) -> dict[str, Any]:
    return {
        "ContactDetails": {"ContactId": contact_id, "FirstName": DISTINCTIVE, "LastName": "Ops"},
        "EmailAddresses": [{"EmailAddress": f"{DISTINCTIVE.lower()}@example.org"}],
        "Addresses": [{"City": f"{DISTINCTIVE}burg"}],
    }


# -- /healthz --------------------------------------------------------------------------------


def test_healthz_answers_200_ok_without_authentication(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] == "ok"
    assert response.headers["x-request-id"]


def test_healthz_answers_503_json_when_database_is_unreachable(make_client, engine_name, tmp_path):
    if engine_name == "sqlite":
        unreachable = f"sqlite:///{tmp_path / 'no' / 'such' / 'directory' / 'pushapi.db'}"
    else:  # nothing listens on port 1
        unreachable = "postgresql://postgres@127.0.0.1:1/pushapi_nowhere"
    response = make_client(database_url=unreachable).get("/healthz")
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] != "ok"
    assert response.headers["x-request-id"]
    assert "directory" not in response.text and "pushapi_nowhere" not in response.text


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """Make files and directories immutable (chattr +i): not even root can write them."""
    done = []
    try:
        for path in paths:
            if path.exists():
                subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
                done.append(path)
        yield
    finally:
        for path in reversed(done):
            subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr (e2fsprogs)")
def test_healthz_reports_a_sqlite_database_that_cannot_be_written(engine_name, tmp_path):
    if engine_name != "sqlite":
        pytest.skip("SQLite files")
    url = f"sqlite:///{tmp_path / 'db' / 'pushapi.db'}"
    (tmp_path / "db").mkdir()
    engine = build_engine(Settings(database_url=url))
    upgrade_database(engine)
    engine.dispose()
    with TestClient(create_app(Settings(database_url=url))) as client:
        assert client.get("/healthz").status_code == 200
        files = [
            tmp_path / "db" / name for name in ("pushapi.db", "pushapi.db-wal", "pushapi.db-shm")
        ]
        with immutable(*files, tmp_path / "db"):
            response = client.get("/healthz")
        assert response.status_code == 503, response.text
        assert response.json() == {"status": "unavailable", "database": "read-only"}
        assert client.get("/healthz").status_code == 200


def test_healthz_reports_a_disk_too_full_for_a_push(client, engine_name, monkeypatch):
    if engine_name != "sqlite":
        pytest.skip("the disk of a SQLite file")
    real = shutil.disk_usage

    def nearly_full(path: Any) -> Any:
        usage = real(path)
        return usage._replace(free=1024 * 1024)

    monkeypatch.setattr(pushapi.store.health.shutil, "disk_usage", nearly_full)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "disk full"


def test_healthz_reports_a_postgresql_database_that_takes_no_writes(
    make_client, make_empty_database, engine_name
):
    if engine_name != "postgresql":
        pytest.skip("PostgreSQL read-only transactions")
    url = make_empty_database()
    name = make_url(url).database
    client = make_client(database_url=url)
    assert client.get("/healthz").status_code == 200
    with _postgres_admin() as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "read-only"


def test_healthz_is_answered_while_every_connection_of_the_pool_is_taken(make_client):
    client = make_client(pool_size=1, max_overflow=0, pool_timeout=30)
    held = client.app.state.engine.connect()
    try:
        held.exec_driver_sql("SELECT 1")
        response = client.get("/healthz")  # would wait 30 s for the pool, then fail
    finally:
        held.close()
    assert response.status_code == 200, response.text


# -- /metrics --------------------------------------------------------------------------------


def test_metrics_asks_for_the_token_when_one_is_set(make_client):
    guarded = make_client(metrics_token="s3cret")
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answered = guarded.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert answered.status_code == 200 and "pushapi_http_requests" in answered.text


def samples(client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics by name and labels (parsed as Prometheus text)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_count_requests_latency_and_records_by_outcome_per_endpoint(make_client, tenant):
    app_client = make_client()
    seeded = app_client.post(PUSH, json=[contact("a"), contact("b")], headers=tenant.headers)
    assert seeded.status_code == 200
    before = samples(app_client)
    deletion = {"ContactDetails": {"ContactId": "a", "IsDeleted": True}}
    mixed = [contact("a", FirstName="New"), contact("b"), deletion, contact("c"), contact("d")]
    assert app_client.post(PUSH, json=mixed, headers=tenant.headers).status_code == 200
    invalid = [contact("e"), contact("f"), {"ContactDetails": {}}]
    assert app_client.post(PUSH, json=invalid, headers=tenant.headers).status_code == 400
    after = samples(app_client)

    records = "pushapi_push_records_total"
    outcomes = {
        outcome: delta(before, after, records, endpoint="contactinfo", outcome=outcome)
        for outcome in ("created", "updated", "deleted", "unchanged", "rejected")
    }
    assert outcomes == {"created": 2, "updated": 1, "deleted": 1, "unchanged": 1, "rejected": 3}

    requests = "pushapi_http_requests_total"
    labels = {"endpoint": PUSH, "method": "POST"}
    assert delta(before, after, requests, **labels, status="200") == 1
    assert delta(before, after, requests, **labels, status="400") == 1

    histogram = "pushapi_http_request_duration_seconds"
    assert delta(before, after, f"{histogram}_count", endpoint=PUSH) == 2
    assert delta(before, after, f"{histogram}_sum", endpoint=PUSH) > 0
    buckets = sorted(
        (float(dict(key[1])["le"]), value)
        for key, value in after.items()
        if key[0] == f"{histogram}_bucket" and dict(key[1]).get("endpoint") == PUSH
    )
    assert len(buckets) > 5
    assert [value for _, value in buckets] == sorted(value for _, value in buckets)
    count = after[(f"{histogram}_count", frozenset({"endpoint": PUSH}.items()))]
    assert buckets[-1] == (float("inf"), count)


def test_metrics_label_requests_by_route_not_by_raw_path(make_client, tenant):
    app_client = make_client()
    for contact_id in ("x1", "x2"):
        app_client.get(f"/v2/contacts/{contact_id}", headers=tenant.headers)
    text = app_client.get("/metrics").text
    assert 'endpoint="/v2/contacts/{' in text
    assert "x1" not in text and "x2" not in text


# -- /openapi.json and /docs -----------------------------------------------------------------


@pytest.fixture(scope="module")
def openapi(app: Any) -> dict[str, Any]:
    with TestClient(app) as test_client:
        response = test_client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_openapi_has_every_push_endpoint_with_its_object_as_body(openapi):
    assert PUSH_ENDPOINTS
    for endpoint in PUSH_ENDPOINTS:
        operation = openapi["paths"][f"/v2/{endpoint.name}"]["post"]
        for media_type in ("application/json", "text/json"):
            body = operation["requestBody"]["content"][media_type]["schema"]
            assert body["type"] == "array"
            assert body["items"]["$ref"] == f"#/components/schemas/{endpoint.schema.name}"
        for status in ("200", "400", "401", "413", "415", "429", "500"):
            assert status in operation["responses"], (endpoint.name, status)
        for path, methods in openapi["paths"].items():
            if path == f"/v2/{endpoint.name}":
                assert set(methods) == {"post"}


def test_openapi_contactinfo_components_are_derived_from_the_field_tables(openapi):
    schemas = openapi["components"]["schemas"]
    details = schemas[CONTACT_DETAILS.name]["properties"]
    assert list(details) == [field.name for field in CONTACT_DETAILS.fields]
    assert list(schemas["ContactInfo"]["properties"]) == [f.name for f in CONTACT_INFO.fields]
    for schema in walk(CONTACT_INFO):
        component = schemas[schema.name]
        assert list(component["properties"]) == [f.name for f in schema.fields], schema.name
        required = [f.name for f in schema.fields if f.need is Need.REQUIRED]
        assert component.get("required", []) == required, schema.name


def test_openapi_documents_the_error_shape_and_the_api_key_header(openapi):
    error = openapi["components"]["schemas"]["Error"]
    assert {"error", "message", "requestId", "errors"} <= set(error["properties"])
    schemes = openapi["components"]["securitySchemes"].values()
    assert {"type": "apiKey", "in": "header", "name": "ApiKey"}.items() <= next(
        iter(schemes)
    ).items()
    for path in ("/healthz", "/metrics", "/v2/pushes", "/v2/pushes/{request_id}"):
        assert path in openapi["paths"], path
    # Every push and every read asks for the key: the push routes, which check it themselves
    # (auth.push_caller), declare it as the reads' dependency does.
    (scheme,) = openapi["components"]["securitySchemes"]
    for endpoint in PUSH_ENDPOINTS:
        push = openapi["paths"][f"/v2/{endpoint.name}"]["post"]
        assert push.get("security") == [{scheme: []}], endpoint.name
    assert openapi["paths"]["/v2/pushes"]["get"]["security"] == [{scheme: []}]


def test_docs_answer_html_pointing_at_the_openapi_document(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text
    assert "swagger" in response.text.lower()


# -- logs ------------------------------------------------------------------------------------


class LineCollector(logging.Handler):
    """Collect the lines pushapi's loggers write, formatted as in production."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonLineFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def records(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.lines]


@pytest.fixture
def log_lines() -> Iterator[LineCollector]:
    collector = LineCollector()
    logger = logging.getLogger("pushapi")
    logger.addHandler(collector)
    yield collector
    logger.removeHandler(collector)


def access_lines(records: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r["logger"] == ACCESS_LOGGER
        and r.get("request_id") == request_id
        and r["message"] == "request"
    ]


def settled_records(log_lines: "LineCollector", request_ids: list[str]) -> list[dict[str, Any]]:
    """The log records once every request's access line is written.

    The line is written after the response has been sent, so a client can hold the response a
    moment before its line exists.
    """
    deadline = time.monotonic() + 5
    while True:
        records = log_lines.records()
        if all(access_lines(records, request_id) for request_id in request_ids):
            return records
        if time.monotonic() > deadline:
            return records
        time.sleep(0.02)


def test_one_structured_log_line_per_request_without_key_or_contact_data(client, tenant, log_lines):
    bogus_key = "pk_0123456789ab_" + "Z" * 32
    invalid = [distinctive_contact("bad"), {"ContactDetails": {"ContactId": "x", "Age": "old"}}]
    answers = {
        "accepted": client.post(PUSH, json=[distinctive_contact("c1")], headers=tenant.headers),
        "invalid": client.post(PUSH, json=invalid, headers=tenant.headers),
        "unauthorized": client.post(
            PUSH, json=[distinctive_contact("c2")], headers={**tenant.headers, "ApiKey": bogus_key}
        ),
        "read": client.get("/v2/contacts/c1", headers=tenant.headers),
    }
    assert [a.status_code for a in answers.values()] == [200, 400, 401, 200]
    assert DISTINCTIVE in answers["read"].text  # the data was there to leak
    records = settled_records(log_lines, [a.headers["x-request-id"] for a in answers.values()])
    for name, answer in answers.items():
        (line,) = access_lines(records, answer.headers["x-request-id"])
        assert line["status"] == answer.status_code, name
        assert line["tenant"] == (None if name == "unauthorized" else tenant.code), name
        # The route template, never the raw path (which holds a ContactId).
        expected = "/v2/contacts/{" if name == "read" else PUSH
        assert line["endpoint"].startswith(expected), line
        assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    for line in log_lines.lines:
        for secret in (
            tenant.api_key,
            bogus_key,
            key_secret(tenant.api_key),
            DISTINCTIVE,
            DISTINCTIVE.lower(),
        ):
            assert secret not in line


def test_unexpected_failure_is_logged_without_contact_data(client, tenant, log_lines, monkeypatch):
    def insert_again(conn, tenant_id, entries, now):
        # A real database error whose statement parameters hold the pushed documents.
        rows = conn.execute(select(contacts).where(contacts.c.tenant_id == tenant_id)).all()
        conn.execute(insert(contacts), [row._asdict() for row in rows])

    monkeypatch.setattr(pushapi.store.contacts, "apply_group_attributes", insert_again)
    response = client.post(PUSH, json=[distinctive_contact("c1")], headers=tenant.headers)
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    records = settled_records(log_lines, [request_id])
    for line in log_lines.lines:
        assert DISTINCTIVE not in line and DISTINCTIVE.lower() not in line
        assert tenant.api_key not in line
    lines = [r for r in records if r.get("request_id") == request_id]
    failures = [r for r in lines if r["level"] == "error"]
    # Operators still see what failed and where.
    assert failures and "IntegrityError" in failures[0]["exception_type"]
    assert "Traceback" in failures[0]["exception"] and "insert_again" in failures[0]["exception"]
    assert len(access_lines(lines, request_id)) == 1


def test_server_process_logs_json_lines_without_key_or_contact_data(start_server, tenant):
    server = start_server()
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        accepted = http.post(PUSH, json=[distinctive_contact("c1")], headers=tenant.headers)
        refused = http.post(
            PUSH,
            json=[distinctive_contact("c2")],
            headers={**tenant.headers, "ApiKey": tenant.api_key + "x"},
        )
        read = http.get("/v2/contacts/c1", headers=tenant.headers)
    assert (accepted.status_code, refused.status_code, read.status_code) == (200, 401, 200)
    server.stop()
    text = server.log_path.read_text()
    # The file holds stdout too, where `serve` prints where it listens.
    lines = [line for line in text.splitlines() if not line.startswith("pushapi: serving on")]
    records = [orjson.loads(line) for line in lines if line.strip()]
    for answer in (accepted, refused, read):
        (line,) = access_lines(records, answer.headers["x-request-id"])
        assert line["status"] == answer.status_code
        assert {"request_id", "tenant", "endpoint", "status", "duration_ms"} <= set(line)
    assert access_lines(records, accepted.headers["x-request-id"])[0]["tenant"] == tenant.code
    for secret in (tenant.api_key, key_secret(tenant.api_key), DISTINCTIVE, DISTINCTIVE.lower()):
        assert secret not in text


def test_sqlite_connections_use_the_configured_page_cache(tmp_path):
    for mib in (64, 3):
        url = f"sqlite:///{tmp_path}/cache-{mib}.db"
        engine = build_engine(Settings(database_url=url, sqlite_cache_mib=mib))
        try:
            with engine.connect() as conn:
                # A negative cache_size is in KiB (SQLite's PRAGMA cache_size).
                assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -mib * 1024
        finally:
            engine.dispose()


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if isinstance(value.get("$ref"), str) else set()
        for item in value.values():
            found |= _refs(item)
        return found
    if isinstance(value, list):
        return {ref for item in value for ref in _refs(item)}
    return set()


def test_openapi_every_get_answer_has_a_schema(openapi):
    gets = [(path, ops["get"]) for path, ops in openapi["paths"].items() if "get" in ops]
    api = [(path, op) for path, op in gets if path.startswith("/v2/")]
    assert len(api) >= 11
    for path, operation in api:
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema.get("$ref") or schema.get("properties"), path
        assert "422" not in operation["responses"], path  # the server answers 400, never 422


def test_openapi_operation_ids_are_stable_names(openapi):
    ids = [
        operation["operationId"]
        for operations in openapi["paths"].values()
        for operation in operations.values()
    ]
    assert len(ids) == len(set(ids))
    for path in ("/v2/contacts/{contact_id}", "/v2/contacts", "/v2/pushes", "/v2/contactinfo"):
        for operation in openapi["paths"][path].values():
            # Chosen names, not FastAPI's generated "<function>_<path>_<method>".
            assert "__" not in operation["operationId"] and "_v2_" not in operation["operationId"]


def test_openapi_every_reference_resolves(openapi):
    schemas = openapi["components"]["schemas"]
    for ref in _refs(openapi):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_openapi_read_back_forms_are_derived_from_the_field_tables(openapi):
    schemas = openapi["components"]["schemas"]
    for schema in walk(CONTACT_INFO):
        record = schemas[f"{schema.name}Record"]
        assert list(record["properties"]) == [f.name for f in schema.fields], schema.name
        assert record["required"] == [f.name for f in schema.fields]  # every field is present
    contact = schemas["ContactRead"]["allOf"]
    assert contact[0] == {"$ref": "#/components/schemas/ContactInfoRecord"}
    assert contact[1]["properties"]["Meta"] == {"$ref": "#/components/schemas/Meta"}
    push_result = schemas["PushResult"]["properties"]
    assert list(push_result)[:6] == [
        "requestId", "received", "created", "updated", "deleted", "unchanged"
    ]  # fmt: skip


# Rounds of 20 blocks of 1 MiB, each written through (as a push body and its records are), all
# freed at the end of the round: the minor page faults of the later rounds, in a fresh process.
# Transparent huge pages are off for it (prctl PR_SET_THP_DISABLE), so a fault is one page.
FAULTS_OF_ROUNDS = """
import ctypes, resource, sys
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)
from pushapi.serving import keep_freed_memory
applied = keep_freed_memory(int(sys.argv[1]))
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def one_round():
    blocks = [bytearray(1024 * 1024) for _ in range(20)]
    del blocks
one_round(); one_round()
before = faults()
for _ in range(3):
    one_round()
print(applied, faults() - before)
"""

# Eight threads each holding 4 MiB at once, then glibc's count of its heaps (malloc_info).
ARENAS_OF_THREADS = """
import ctypes, sys, tempfile, threading
from pushapi.serving import keep_freed_memory
keep_freed_memory(int(sys.argv[1]))
together = threading.Barrier(8)
def work():
    blocks = [bytearray(256 * 1024) for _ in range(16)]
    together.wait()
    del blocks
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
with tempfile.NamedTemporaryFile() as report:
    stream = libc.fopen(report.name.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(open(report.name).read().count("<heap nr="))
"""


def run_snippet(snippet: str, *arguments: str, malloc: dict[str, str] | None = None) -> str:
    """`snippet` in a fresh interpreter, with none of glibc's malloc settings from outside (but
    `malloc`)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name != "GLIBC_TUNABLES" and not name.startswith("MALLOC_")
    }
    env.update(malloc or {})
    done = subprocess.run(
        [sys.executable, "-c", snippet, *arguments],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="PUSHAPI_MALLOC_KEEP_MIB is glibc's")
def test_a_worker_keeps_freed_memory_instead_of_faulting_it_in_again():
    def later_faults(keep_mib: int) -> tuple[str, int]:
        applied, faults = run_snippet(FAULTS_OF_ROUNDS, str(keep_mib)).split()
        return applied, int(faults)

    applied, kept = later_faults(64)
    assert applied == "True"
    assert kept < 1000  # 3 rounds of 20 MiB are 15,360 pages: reused, not faulted in
    applied, returned = later_faults(0)  # glibc's defaults
    assert applied == "False"
    assert returned > 10_000  # each round's memory went back to the system and came again


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="PUSHAPI_MALLOC_KEEP_MIB is glibc's")
def test_the_memory_kept_is_bounded_by_a_few_heaps_not_one_per_thread():
    assert int(run_snippet(ARENAS_OF_THREADS, "64")) <= ARENAS
    assert int(run_snippet(ARENAS_OF_THREADS, "0")) > ARENAS  # glibc's defaults: one a thread
    # An operator's own limit stands.
    assert int(run_snippet(ARENAS_OF_THREADS, "64", malloc={"MALLOC_ARENA_MAX": "4"})) == 4
