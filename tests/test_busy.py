"""When every database connection of a worker is busy, requests are refused with 503 and
Retry-After (which clients retry), not left hanging and not answered 500."""

from conftest import EXAMPLES

PUSH = "/v2/contactinfo"


def test_push_and_read_answer_503_with_retry_after_while_every_connection_is_busy(
    make_client, tenant
):
    client = make_client(pool_size=1, max_overflow=0, pool_timeout=0.2)
    body = (EXAMPLES / "canonical-contacts.json").read_bytes()
    held = client.app.state.engine.connect()  # the worker's only connection
    try:
        held.exec_driver_sql("SELECT 1")
        push = client.post(PUSH, content=body, headers=tenant.headers)
        read = client.get("/v2/contacts", headers=tenant.headers)
    finally:
        held.close()
    for answer in (push, read):
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["error"] == "unavailable"
        assert answer.json()["requestId"] == answer.headers["x-request-id"]
    again = client.post(PUSH, content=body, headers=tenant.headers)
    assert again.status_code == 200, again.text
    assert again.json()["created"] == 2  # the refused push changed nothing


def test_push_whose_transaction_gets_no_connection_is_503_and_changes_nothing(
    client, tenant, snapshot, monkeypatch
):
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    import pushapi.push.apply

    def no_connection(engine, tenant_id):
        raise PoolTimeout("QueuePool limit reached")

    before = snapshot(tenant)
    monkeypatch.setattr(pushapi.push.apply, "write_transaction", no_connection)
    body = (EXAMPLES / "canonical-contacts.json").read_bytes()
    answer = client.post(PUSH, content=body, headers=tenant.headers)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert "QueuePool" not in answer.text  # never internals
    assert snapshot(tenant) == before
