"""The batch updates a Citus coordinator gets (store/dialect.update_rows): `UPDATE ... FROM
(VALUES ...)` per 500 rows, or from REWRITE_FROM rows on a `DELETE ... RETURNING` and a COPY,
each restricted to the tenant. Plain PostgreSQL runs them here with the choice forced, and what
they store reads back as the executemany's does."""

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event

import pushapi.store.dialect as dialect

CONTACTS = "/v2/contactinfo"


@pytest.fixture
def statements(
    engine_name: str, client: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """Every statement the app runs, with updates in the distributed form."""
    if engine_name != "postgresql":
        pytest.skip("Citus extends PostgreSQL")
    monkeypatch.setattr(dialect, "is_distributed", dialect.is_postgresql)
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    # Every engine's: on Citus pushes run on the node that holds the tenant (store/placement.py).
    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


def contact(n: int, title: str | None) -> dict[str, Any]:
    return {
        "ContactDetails": {"ContactId": f"C{n}", "LastName": f"L{n}", "Title": title},
        "EmailAddresses": [{"EmailAddress": f"c{n}@example.org"}],
    }


def everything(client: Any, tenant: Any) -> list[dict[str, Any]]:
    found, cursor = [], None
    while True:
        query = "?limit=1000" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v2/contacts{query}", headers=tenant.headers).json()
        found += [{k: v for k, v in c.items() if k != "Meta"} for c in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            return found


def push(client: Any, tenant: Any, records: list[Any], path: str = CONTACTS) -> dict[str, Any]:
    response = client.post(path, json=records, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_changed_records_are_updated_in_chunks_restricted_to_the_tenant(
    statements, client, make_tenant, monkeypatch
):
    distributed, plain = make_tenant(), make_tenant()
    first = [contact(n, None) for n in range(1200)]  # more than two chunks of 500
    changed = [contact(n, "Dr" if n % 3 else None) for n in range(1200)]
    changed[7]["ContactDetails"]["FirstName"] = "Ann"
    boundary = 0
    for tenant in (distributed, plain):
        if tenant is plain:
            boundary = len(statements)
            monkeypatch.setattr(dialect, "is_distributed", lambda _conn: False)
        push(client, tenant, first)
        before = client.get("/v2/contacts/C2", headers=tenant.headers).json()["Meta"]
        counts = push(client, tenant, changed)
        assert (counts["updated"], counts["unchanged"]) == (800, 400)
        after = client.get("/v2/contacts/C2", headers=tenant.headers).json()
        assert after["Meta"]["CreatedAt"] == before["CreatedAt"]  # rewritten, not created again
        assert after["ContactDetails"]["Title"] == "Dr"
        deleted = push(client, tenant, [{"ContactDetails": {"ContactId": "C1", "IsDeleted": True}}])
        assert deleted["deleted"] == 1
        push(client, tenant, [{"Title": "Mr", "MeetingId": "M1"}], "/v2/meeting")
        push(client, tenant, [{"Title": "Ms", "MeetingId": "M1"}], "/v2/meeting")
    assert everything(client, distributed) == everything(client, plain)
    rewrites = [s for s in statements[:boundary] if s.startswith("DELETE FROM contacts WHERE")
                and " RETURNING " in s]  # fmt: skip
    assert len(rewrites) == 1 and "contacts.tenant_id = %s" in rewrites[0], rewrites
    updates = [s for s in statements[:boundary] if s.startswith("UPDATE contacts SET")]
    assert len(updates) >= 1 and all(" FROM (VALUES " in s for s in updates), updates
    assert all("WHERE contacts.tenant_id = %s AND contacts.contact_id = batch.contact_id" in s
               for s in updates)  # fmt: skip
    meeting = client.get("/v2/meetings/M1", headers=distributed.headers).json()
    assert meeting["Title"] == "Ms"
