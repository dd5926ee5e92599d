"""On PostgreSQL, a contact new to the tenant and pushed once is inserted while the push is still
being prepared (store/contacts._prepare_contacts). Its row, and everything else a push stores and
answers, must be exactly what the push stores without that: the rows write_records writes. (On
SQLite both pushes below take the same path.)"""

from datetime import datetime
from typing import Any

import orjson

import pushapi.store.contacts
from pushapi.store.tables import contacts


def person(contact_id: str, **details: Any) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": contact_id, "LastName": "Doe", **details}}


RECORDS = [
    {
        **person("plain", FirstName="Ann", PrimaryEmailAddress="ann@example.org"),
        "Groups": [
            {"GroupId": "G1", "GroupName": "One", "GroupType": "Committee", "Role": "Chair"},
            {"GroupId": "G2", "GroupName": "Two", "Role": "Member"},
        ],
        "PhoneNumbers": [{"FormattedNumber": "555-0100", "PhoneType": "Mobile"}],
    },
    person("warned", PrimaryEmailAddress="not-an-address"),  # a warning: no raw digest
    person("unknown-property", Nickname="Al"),  # a warning while reading
    person("referring", ParentContactId="plain"),  # a reference: no raw digest
    person("twice", FirstName="First"),  # pushed twice: written after the replay
    person("deleted-new", IsDeleted=True),  # unknown: nothing to delete
    {**person("ordering"), "Orders": [{"OrderId": "O1", "ProductId": "P-none"}]},
    person("twice", FirstName="Second"),
    person("existing", FirstName="Changed"),  # stored before: updated, not inserted
]


def stored(snapshot: Any, tenant: Any) -> dict[str, list[tuple[Any, ...]]]:
    """A tenant's rows without what differs between tenants: its id (the first column of every
    table), the times, and the request ids of change events."""
    return {
        table: [
            tuple(
                None if isinstance(value, datetime) or (table, i) == ("change_events", 3) else value
                for i, value in enumerate(row[1:], start=1)
            )
            for row in rows
        ]
        for table, rows in snapshot(tenant).items()
    }


def push(client: Any, tenant: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/v2/contactinfo", content=orjson.dumps(records), headers=tenant.headers)
    assert response.status_code == 200, response.text
    answer = dict(response.json())
    answer.pop("requestId", None)
    return answer


def test_contacts_inserted_while_prepared_are_stored_as_after_the_replay(
    client, make_tenant, snapshot, monkeypatch
):
    streamed, plain = make_tenant(), make_tenant()
    for tenant in (streamed, plain):
        push(client, tenant, [person("existing", FirstName="Before")])
    answer = push(client, streamed, RECORDS)
    monkeypatch.setattr(pushapi.store.contacts, "STREAM_NEW_CONTACTS", False)
    assert push(client, plain, RECORDS) == answer
    assert (answer["created"], answer["updated"], answer["unchanged"]) == (6, 2, 1)
    assert stored(snapshot, streamed) == stored(snapshot, plain)
    position = [column.name for column in contacts.c].index("raw_hash") - 1
    raw_hashes = {row[0]: row[position] for row in stored(snapshot, streamed)["contacts"]}
    assert raw_hashes["plain"] is not None
    assert raw_hashes["warned"] is None and raw_hashes["unknown-property"] is None


def test_a_copy_the_database_gives_up_on_is_a_503_and_changes_nothing(
    engine_name: str, database_url: str, make_client: Any, tenant: Any
) -> None:
    """A driver error in a COPY is raised as the other statements' are (store/dialect._copy):
    here the lock timeout of a COPY into a table another transaction holds, a retryable 503."""
    import psycopg
    import pytest
    from sqlalchemy import make_url

    if engine_name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    url = make_url(database_url)
    options = " ".join(filter(None, [url.query.get("options", ""), "-c lock_timeout=300"]))
    client = make_client(
        database_url=url.update_query_dict({"options": options}).render_as_string(False)
    )
    plain = url.set(query={}).render_as_string(False)
    with psycopg.connect(plain) as holder:
        holder.execute("LOCK TABLE memberships IN ACCESS EXCLUSIVE MODE")  # until it ends
        body = orjson.dumps([RECORDS[0]])  # a new contact in groups: COPY into memberships
        answer = client.post("/v2/contactinfo", content=body, headers=tenant.headers)
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"]
    assert client.get("/v2/contacts/plain", headers=tenant.headers).status_code == 404
