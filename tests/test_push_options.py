"""Push options (SPEC 3.2) through real HTTP against a real server process, on every engine:
?dryRun=true, ?onError=skip, the warnings of a 400, and Idempotency-Key.

Each sentence of SPEC 3.2 has a test here; the crash test of onError=skip is in test_crash.py
and the client's use of keys in test_client.py.
"""

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import TestTenant
from sqlalchemy import Engine, select
from support.server import ServerProcess, launch_server

from pushapi.store import idempotency
from pushapi.store.retention import prune_idempotency_keys
from pushapi.store.tables import idempotency_keys, tenant_state

CONTACTS = "/v2/contactinfo"


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module (rate limit 60 a minute: the replay test counts on it)."""
    process = launch_server(
        ["--database-url", database_url],
        tmp_path_factory.mktemp("options") / "server.log",
        env={**os.environ, "PUSHAPI_RATE_LIMIT_PER_MINUTE": "60"},
    )
    yield process
    process.stop()


@pytest.fixture
def post(server: ServerProcess, tenant: TestTenant) -> Callable[..., httpx.Response]:
    """POST a body (records, or bytes as they are) to a push endpoint as the test's tenant."""

    def send(
        records: Any,
        path: str = CONTACTS,
        *,
        params: Any = None,
        key: str | None = None,
        headers: dict[str, Any] | None = None,
        as_tenant: TestTenant | None = None,
    ) -> httpx.Response:
        sent = dict((as_tenant or tenant).headers)
        if key is not None:
            sent["Idempotency-Key"] = key
        sent.update(headers or {})
        content = records if isinstance(records, bytes) else json.dumps(records).encode()
        return httpx.post(
            server.base_url + path, content=content, params=params, headers=sent, timeout=120
        )

    return send


@pytest.fixture
def get(server: ServerProcess, tenant: TestTenant) -> Callable[[str], httpx.Response]:
    def read(path: str) -> httpx.Response:
        return httpx.get(server.base_url + path, headers={"ApiKey": tenant.api_key}, timeout=60)

    return read


def contact(n: int, **details: Any) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": f"C{n}", "LastName": f"Last{n}", **details}}


def invalid(n: int) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": f"C{n}", "Age": "old"}}  # no name, Age not an int


def pushes(get: Callable[[str], httpx.Response]) -> list[dict[str, Any]]:
    response = get("/v2/pushes?limit=100")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def everything(engine: Engine, snapshot: Any, tenant: TestTenant) -> dict[str, Any]:
    """Every row of the tenant, its contacts_version (what recognition trusts) included."""
    state = snapshot(tenant)
    with engine.connect() as conn:
        state["tenant_state"] = [tuple(conn.execute(select(tenant_state).where(
            tenant_state.c.tenant_id == tenant.tenant_id)).one())]  # fmt: skip
    return state


COUNTS = ("received", "created", "updated", "deleted", "unchanged", "rejected")


def counts(body: dict[str, Any]) -> tuple[int, ...]:
    return tuple(body[name] for name in COUNTS)


# -- dryRun ----------------------------------------------------------------------------------


def test_dry_run_answers_what_the_push_would_and_changes_nothing(
    post, get, engine, snapshot, tenant
):
    stored = [contact(1), contact(2), contact(3, IsDeleted=False), contact(4)]
    assert post(stored).status_code == 200
    lists = [{"ListId": "L1", "ListName": "Board", "ContactIds": ["C1", "C2"], "Mode": "Replace"}]
    assert post(lists, "/v2/list").status_code == 200
    # created, updated, deleted, unchanged, with a warning (an unknown property)
    records = [
        contact(5, Nickname="Five"),
        contact(1, FirstName="Changed"),
        {"ContactDetails": {"ContactId": "C2", "IsDeleted": True}},
        contact(4),
        {**contact(6), "Grups": []},
    ]
    before = everything(engine, snapshot, tenant)
    dry = post(records, params={"dryRun": "true"})
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["dryRun"] is True and "errors" not in body
    assert everything(engine, snapshot, tenant) == before
    assert get("/v2/contacts/C5").status_code == 404

    replaced = [{"ListId": "L1", "ListName": "Board", "ContactIds": ["C3"], "Mode": "Replace"}]
    list_dry = post(replaced, "/v2/list", params={"dryRun": "TRUE"})
    assert list_dry.status_code == 200 and list_dry.json()["updated"] == 1
    assert everything(engine, snapshot, tenant) == before

    real = post(records)
    assert real.status_code == 200, real.text
    answer = real.json()
    assert "dryRun" not in answer
    assert counts(answer) == counts(body) == (5, 2, 1, 1, 1, 0)
    assert answer["warnings"] == body["warnings"] != []

    logged = {entry["requestId"]: entry for entry in pushes(get)}
    assert logged[dry.headers["x-request-id"]]["dryRun"] is True
    assert logged[dry.headers["x-request-id"]]["created"] == 2
    assert logged[real.headers["x-request-id"]]["dryRun"] is False


def test_a_dry_run_leaves_nightly_sync_recognition_as_it_was(post, engine, snapshot, tenant):
    records = [contact(n, FirstName="Same") for n in range(20)]
    assert post(records).json()["created"] == 20
    before = everything(engine, snapshot, tenant)
    changed = [contact(n, FirstName="Other") for n in range(20)]
    assert post(changed, params={"dryRun": "true"}).json()["updated"] == 20
    assert everything(engine, snapshot, tenant) == before  # contacts_version too
    again = post(records)
    assert counts(again.json()) == (20, 0, 0, 0, 20, 0)


def test_every_dry_run_answer_carries_dry_run_true(post, server, make_tenant, tenant):
    dry = {"dryRun": "true"}
    bad = post([invalid(1), contact(2, Nickname="x", Unknown=1)], params=dry)
    assert bad.status_code == 400 and bad.json()["dryRun"] is True
    assert bad.json()["warnings"] != []
    essentials = make_tenant(platform="community-essentials")
    refused = post([], "/v2/list", params=dry, as_tenant=essentials)
    assert refused.status_code == 403 and refused.json()["dryRun"] is True
    media = post(b"[]", params=dry, headers={"Content-Type": "text/plain"})
    assert media.status_code == 415 and media.json()["dryRun"] is True
    unknown = httpx.post(server.base_url + CONTACTS, params=dry, json=[],
                         headers={"ApiKey": "nope"})  # fmt: skip
    assert unknown.status_code == 401 and unknown.json()["dryRun"] is True
    plain = post([invalid(1)])
    assert plain.status_code == 400 and "dryRun" not in plain.json()


def test_a_dry_run_ignores_the_idempotency_key(post, get):
    records = [contact(1)]
    first = post(records, params={"dryRun": "true"}, key="dry-1")
    again = post(records, params={"dryRun": "true"}, key="dry-1")
    for answer in (first, again):
        assert answer.status_code == 200 and answer.json()["created"] == 1
        assert "idempotent-replayed" not in answer.headers
    assert first.headers["x-request-id"] != again.headers["x-request-id"]
    # The key was not kept by the dry runs: the real push with it runs.
    real = post(records, key="dry-1")
    assert real.json()["created"] == 1 and "idempotent-replayed" not in real.headers
    # A malformed key is still refused: it is the client's bug, dry run or not.
    malformed = post(records, params={"dryRun": "true"}, key="bad key")
    assert malformed.status_code == 400 and malformed.json()["dryRun"] is True


# -- onError ---------------------------------------------------------------------------------


def test_on_error_skip_applies_the_valid_records_and_lists_the_others(post, get):
    records = [contact(1), invalid(2), contact(3), invalid(4), contact(5, Unknown="x")]
    response = post(records, params={"onError": "skip"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert counts(body) == (5, 3, 0, 0, 0, 2)
    assert sorted({issue["index"] for issue in body["errors"]}) == [2 - 1, 4 - 1]
    assert {issue["path"] for issue in body["errors"]} >= {"ContactDetails.Age"}
    assert [w["index"] for w in body["warnings"]] == [4]
    assert [get(f"/v2/contacts/C{n}").status_code for n in (1, 2, 3, 4, 5)] == [
        200, 404, 200, 404, 200,
    ]  # fmt: skip
    (entry,) = [e for e in pushes(get) if e["requestId"] == body["requestId"]]
    assert (entry["status"], entry["rejected"], entry["created"]) == (200, 2, 3)
    assert entry["errorCount"] == len(body["errors"])


def test_every_200_carries_rejected_and_only_skip_carries_errors(post):
    plain = post([contact(1)])
    assert plain.json()["rejected"] == 0 and "errors" not in plain.json()
    skip = post([contact(2)], params={"onError": "skip"})
    assert skip.json()["rejected"] == 0 and skip.json()["errors"] == []
    reject = post([contact(3), invalid(4)], params={"onError": "reject"})
    assert reject.status_code == 400 and reject.json()["error"] == "validation_failed"


def test_skip_with_every_record_invalid_applies_nothing(post, engine, snapshot, tenant):
    before = snapshot(tenant)
    response = post([invalid(1), invalid(2)], params={"onError": "skip"})
    assert response.status_code == 200, response.text
    assert counts(response.json()) == (2, 0, 0, 0, 0, 2)
    assert snapshot(tenant) == before


def test_skip_keeps_body_level_problems_400_and_413(post, server, make_tenant):
    skip = {"onError": "skip"}
    assert post(b"[{", params=skip).json()["error"] == "invalid_body"
    assert post(b'{"a": 1}', params=skip).json()["error"] == "invalid_body"
    assert post(b"[1, {}]", params=skip).json()["error"] == "invalid_body"
    too_many = post([contact(n) for n in range(10_001)], params=skip)
    assert too_many.status_code == 413


def test_skip_and_dry_run_together(post, engine, snapshot, tenant):
    before = snapshot(tenant)
    response = post([contact(1), invalid(2)], params={"onError": "skip", "dryRun": "true"})
    body = response.json()
    assert (response.status_code, body["dryRun"], counts(body)) == (200, True, (2, 1, 0, 0, 0, 1))
    assert snapshot(tenant) == before


@pytest.mark.parametrize(
    "query",
    ["dryRun=yes", "dryRun=", "onError=ignore", "onError=skip&onError=reject", "dryrun=1"],
)
def test_unknown_option_values_are_400_invalid_parameter(post, get, query):
    response = post([contact(1)], path=f"{CONTACTS}?{query}")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_parameter"
    assert ("dryRun" in body["message"]) or ("onError" in body["message"])
    assert get("/v2/contacts/C1").status_code == 404


def test_option_names_and_values_match_in_any_case(post):
    response = post([contact(1)], path=f"{CONTACTS}?DRYRUN=True&onerror=SKIP")
    assert response.status_code == 200
    assert response.json()["dryRun"] is True and response.json()["errors"] == []


# -- 400 carries warnings ---------------------------------------------------------------------


def test_validation_failed_carries_the_warnings_found(post):
    response = post([contact(1, Nickname="x", Unknown=1), invalid(2)])
    assert response.status_code == 400
    body = response.json()
    assert {w["index"] for w in body["warnings"]} == {0}
    assert any("Unknown" in w["path"] + w["message"] for w in body["warnings"])
    assert {e["index"] for e in body["errors"]} == {1}


# -- Idempotency-Key --------------------------------------------------------------------------


def test_a_replay_is_the_first_answer_byte_for_byte_and_applies_nothing(post, get, server):
    records = [contact(1), contact(2)]
    first = post(records, key="k-1")
    assert first.status_code == 200 and first.json()["created"] == 2
    assert "idempotent-replayed" not in first.headers
    replay = post(records, key="k-1")
    assert replay.status_code == 200
    assert replay.content == first.content
    assert replay.headers["x-request-id"] == first.headers["x-request-id"]
    assert replay.headers["idempotent-replayed"] == "true"
    assert [e["requestId"] for e in pushes(get)] == [first.headers["x-request-id"]]
    assert '"replay_of":"' + first.headers["x-request-id"] in server.log()


def test_a_replay_after_a_later_push_does_not_undo_it(post, get):
    first = post([contact(1, FirstName="Ann")], key="k-later")
    assert post([contact(1, FirstName="Bea")]).json()["updated"] == 1
    replay = post([contact(1, FirstName="Ann")], key="k-later")
    assert replay.content == first.content and replay.headers["idempotent-replayed"] == "true"
    assert get("/v2/contacts/C1").json()["ContactDetails"]["FirstName"] == "Bea"


def test_a_400_is_kept_and_replayed(post, get):
    first = post([invalid(1)], key="k-400")
    assert first.status_code == 400
    replay = post([invalid(1)], key="k-400")
    assert (replay.status_code, replay.content) == (400, first.content)
    assert replay.headers["x-request-id"] == first.headers["x-request-id"]
    assert replay.headers["idempotent-replayed"] == "true"
    bad_json = post(b"[{", key="k-400-body")
    assert post(b"[{", key="k-400-body").content == bad_json.content
    assert len(pushes(get)) == 2


def test_the_same_query_in_another_order_is_the_same_request(post):
    first = post([contact(1)], path=f"{CONTACTS}?onError=skip&x=1", key="k-order")
    again = post([contact(1)], path=f"{CONTACTS}?x=1&onError=skip", key="k-order")
    assert again.headers["idempotent-replayed"] == "true" and again.content == first.content


@pytest.mark.parametrize("other", ["body", "endpoint", "query"])
def test_the_same_key_with_another_request_is_422(post, get, other):
    assert post([contact(1)], key="k-reused").status_code == 200
    if other == "body":
        response = post([contact(2)], key="k-reused")
    elif other == "endpoint":
        response = post([contact(1)], "/v2/meeting", key="k-reused")
    else:
        response = post([contact(1)], params={"onError": "skip"}, key="k-reused")
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "idempotency_key_reused"
    assert get("/v2/contacts/C2").status_code == 404
    # Not kept, and logged like any refused push.
    assert post([contact(1)], key="k-reused").headers["idempotent-replayed"] == "true"
    statuses = sorted(e["status"] for e in pushes(get))
    assert statuses == [200, 422]


def test_answers_that_ran_nothing_are_not_kept(post, make_tenant):
    refused = post(b"[]", key="k-415", headers={"Content-Type": "text/plain"})
    assert refused.status_code == 415
    assert post([contact(1)], key="k-415").json()["created"] == 1
    too_many = post([contact(n) for n in range(10_001)], key="k-413")
    assert too_many.status_code == 413
    assert post([contact(2)], key="k-413").json()["created"] == 1
    essentials = make_tenant(platform="community-essentials")
    assert post([], "/v2/list", key="k-403", as_tenant=essentials).status_code == 403
    assert post([contact(3)], key="k-403", as_tenant=essentials).json()["created"] == 1


@pytest.mark.parametrize(
    "key",
    ["", "has space", "x" * 256, "tab\there", "caf\u00e9"],
)
def test_a_malformed_key_is_400_and_not_kept(post, server, key):
    response = post([contact(1)], headers={"Idempotency-Key": key.encode("latin-1")})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_idempotency_key"
    assert "1-255 visible ASCII" in response.json()["message"]
    # Checked after authentication: an unknown API key is 401 first.
    headers = {"ApiKey": "nope", "Idempotency-Key": key.encode("latin-1")}
    unknown = httpx.post(server.base_url + CONTACTS, json=[], headers=headers)
    assert unknown.status_code == 401


def test_a_key_given_twice_is_400(server, tenant):
    headers = [("ApiKey", tenant.api_key), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    response = httpx.post(server.base_url + CONTACTS, json=[], headers=headers)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_idempotency_key")


def test_the_longest_key_and_every_visible_character_are_taken(post):
    assert post([contact(1)], key="x" * 255).status_code == 200
    visible = "".join(chr(c) for c in range(0x21, 0x7F))
    assert post([contact(2)], key=visible).status_code == 200
    assert post([contact(2)], key=visible).headers["idempotent-replayed"] == "true"


def test_keys_are_scoped_to_the_tenant(post, make_tenant, get):
    other = make_tenant()
    assert post([contact(1)], key="k-shared").json()["created"] == 1
    theirs = post([contact(9)], key="k-shared", as_tenant=other)
    assert theirs.status_code == 200 and "idempotent-replayed" not in theirs.headers
    assert get("/v2/contacts/C9").status_code == 404


def large_body(n: int = 5000) -> bytes:
    return json.dumps([contact(i, FirstName="Big", Nickname=f"N{i}") for i in range(n)]).encode()


def test_a_key_whose_first_request_runs_is_409_with_retry_after(post, get, engine, tenant):
    body = large_body()
    outcome: dict[str, httpx.Response] = {}
    first = threading.Thread(target=lambda: outcome.update(first=post(body, key="k-busy")))
    first.start()
    try:
        deadline = time.monotonic() + 60
        while not _claimed(engine, tenant.tenant_id, "k-busy"):
            assert time.monotonic() < deadline and first.is_alive(), "no claim seen"
            time.sleep(0.002)
        busy = post([contact(1)], key="k-busy")  # whatever its body
    finally:
        first.join(timeout=120)
    if outcome["first"].json().get("created") == 5000 and busy.status_code != 409:
        pytest.skip("the first push ended before the second arrived")  # pragma: no cover
    assert busy.status_code == 409, busy.text
    assert busy.json()["error"] == "idempotency_key_in_use"
    assert 1 <= int(busy.headers["retry-after"]) <= idempotency.RETRY_AFTER_MAX
    replay = post(body, key="k-busy")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == outcome["first"].content
    assert sorted(e["status"] for e in pushes(get)) == [200, 409]


def _claimed(engine: Engine, tenant_id: int, key: str) -> bool:
    with engine.connect() as conn:
        query = select(idempotency_keys.c.status).where(
            idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.idempotency_key == key
        )
        row = conn.execute(query).first()
    return row is not None and row.status is None


def test_identical_keyed_requests_at_the_same_moment_apply_once(post, get):
    body = large_body(2000)
    answers: list[httpx.Response] = []
    start = threading.Barrier(4)

    def send() -> None:
        start.wait()
        answers.append(post(body, key="k-race"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    replayed = "idempotent-replayed"
    applied = [a for a in answers if a.status_code == 200 and replayed not in a.headers]
    assert len(applied) == 1, [(a.status_code, a.text[:80]) for a in answers]
    assert applied[0].json()["created"] == 2000
    for other in answers:
        if other is not applied[0]:
            assert other.status_code == 409 or other.content == applied[0].content
    logged = pushes(get)
    assert [e["created"] for e in logged if e["status"] == 200] == [2000]


def test_a_replay_counts_against_the_rate_limit(post):
    assert post([contact(1)], key="k-rate").status_code == 200
    replay = post([contact(1)], key="k-rate")
    assert replay.headers["idempotent-replayed"] == "true"
    assert int(replay.headers["ratelimit-remaining"]) == 58  # 60 a minute, two used


def test_a_claim_whose_process_died_is_taken_over_after_its_lease(post, engine, tenant):
    now = datetime.now(UTC)
    leases = {"k-dead": now - timedelta(seconds=1), "k-alive": now + timedelta(seconds=60)}
    for key, lease in leases.items():
        with engine.begin() as conn:
            conn.execute(idempotency_keys.insert().values(
                tenant_id=tenant.tenant_id, idempotency_key=key, fingerprint="0" * 64,
                request_id="0" * 26, status=None, answer=None, lease_until=lease,
                expires_at=now + timedelta(hours=24),
            ))  # fmt: skip
    assert post([contact(1)], key="k-dead").json()["created"] == 1
    alive = post([contact(2)], key="k-alive")
    assert (alive.status_code, alive.headers["retry-after"]) == (409, "5")


def test_expired_keys_run_again_and_are_pruned(post, engine, tenant):
    first = post([contact(1)], key="k-old")
    with engine.begin() as conn:
        conn.execute(idempotency_keys.update().where(
            idempotency_keys.c.tenant_id == tenant.tenant_id,
        ).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))  # fmt: skip
    again = post([contact(1)], key="k-old")
    assert "idempotent-replayed" not in again.headers
    assert again.json()["unchanged"] == 1 and again.content != first.content
    with engine.begin() as conn:
        conn.execute(idempotency_keys.update().where(
            idempotency_keys.c.tenant_id == tenant.tenant_id,
        ).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))  # fmt: skip
    assert prune_idempotency_keys(engine) >= 1
    with engine.connect() as conn:
        left = conn.execute(select(idempotency_keys).where(
            idempotency_keys.c.tenant_id == tenant.tenant_id)).all()  # fmt: skip
    assert left == []


def test_a_request_that_lost_its_claim_cannot_complete(engine, tenant):
    now = datetime.now(UTC)
    day = timedelta(hours=24)
    first = idempotency.claim(engine, tenant.tenant_id, "k-lost", "f", "A" * 26, now, day)
    assert first.outcome == "claimed"
    later = now + idempotency.LEASE + timedelta(seconds=1)
    second = idempotency.claim(engine, tenant.tenant_id, "k-lost", "f", "B" * 26, later, day)
    assert second.outcome == "claimed"
    with engine.begin() as conn:
        assert not idempotency.complete(conn, tenant.tenant_id, "k-lost", "A" * 26, 200, b"{}")
        assert idempotency.complete(conn, tenant.tenant_id, "k-lost", "B" * 26, 200, b"{}")
    replay = idempotency.claim(engine, tenant.tenant_id, "k-lost", "f", "C" * 26, later, day)
    assert replay.outcome == "replay" and replay.kept is not None
    assert replay.kept.request_id == "B" * 26
