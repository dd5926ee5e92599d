"""Re-pushes of a contact byte for byte as it was stored: known unchanged without being read
(store/contacts.py), and every outcome exactly as if each record had been read in full."""

import dataclasses
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update

import pushapi.push.apply
import pushapi.routes.push
import pushapi.store.contacts
from pushapi.push.apply import PushLimits, PushRequest, run_push
from pushapi.push.endpoints import ENDPOINTS_BY_NAME, Recognizer
from pushapi.push.read import RecordLimits, split_body
from pushapi.schema.compiled import CompiledReader
from pushapi.store.contacts import raw_seed, recognise_contacts, recognition_holds
from pushapi.store.documents import raw_digests
from pushapi.store.tables import contacts
from pushapi.store.tenants import find_tenant

PUSH = "/v2/contactinfo"


def person(contact_id: str, **details: Any) -> dict[str, Any]:
    return {"ContactDetails": {"ContactId": contact_id, "LastName": "Doe", **details}}


def post(client: Any, tenant: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post(PUSH, content=orjson.dumps(records), headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def counts(answer: dict[str, Any]) -> tuple[int, int, int, int]:
    return answer["created"], answer["updated"], answer["deleted"], answer["unchanged"]


class Reads:
    """The records the push endpoint reads, as the bytes that were pushed."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def of(self, records: list[dict[str, Any]]) -> list[int]:
        """The indexes in `records` of the records read."""
        encoded = [orjson.dumps(record) for record in records]
        return sorted(encoded.index(raw) for raw in self.seen)

    def clear(self) -> None:
        self.seen.clear()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    seen = Reads()
    compiled_read = CompiledReader.read

    def counted_compiled(reader: CompiledReader, raw: Any) -> Any:
        seen.seen.append(bytes(raw))
        return compiled_read(reader, raw)

    # Every record that is read meets the compiled reader first (parse_object reads those it
    # declines); a recognised record meets neither.
    monkeypatch.setattr(CompiledReader, "read", counted_compiled)
    return seen


def raw_hashes(engine: Any, tenant: Any) -> dict[str, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(contacts.c.contact_id, contacts.c.raw_hash).where(
                contacts.c.tenant_id == tenant.tenant_id
            )
        ).all()
    return {row.contact_id: row.raw_hash for row in rows}


def test_a_byte_identical_repush_is_not_read_and_counts_unchanged(client, tenant, engine, reads):
    records = [person(f"c{n}", FirstName=f"N{n}") for n in range(5)]
    assert counts(post(client, tenant, records)) == (5, 0, 0, 0)
    assert reads.of(records) == [0, 1, 2, 3, 4]
    assert all(raw_hashes(engine, tenant).values())
    reads.clear()
    before = client.get("/v2/contacts/c3", headers=tenant.headers).json()
    answer = post(client, tenant, records)
    assert counts(answer) == (0, 0, 0, 5)
    assert answer["warnings"] == []
    assert reads.of(records) == []
    assert client.get("/v2/contacts/c3", headers=tenant.headers).json() == before


def test_only_the_records_not_recognised_are_read(client, tenant, reads):
    records = [person(f"c{n}") for n in range(4)]
    post(client, tenant, records)
    reads.clear()
    records[2] = person("c2", FirstName="Changed")
    records.append(person("c9"))
    assert counts(post(client, tenant, records)) == (1, 1, 0, 3)
    assert reads.of(records) == [2, 4]


def test_a_recognised_record_still_gives_its_groups_their_attributes(client, tenant, reads):
    mine = {
        **person("a"),
        "Groups": [{"GroupId": "G1", "GroupName": "One", "GroupType": "Committee"}],
    }
    post(client, tenant, [mine])
    post(client, tenant, [{**person("b"), "Groups": [{"GroupId": "G1", "GroupName": "Two"}]}])
    assert client.get("/v2/groups/G1", headers=tenant.headers).json()["GroupName"] == "Two"
    reads.clear()
    # SPEC 4.1: the last pushed value wins, even when the contact itself is unchanged.
    assert counts(post(client, tenant, [mine])) == (0, 0, 0, 1)
    assert reads.of([mine]) == []
    group = client.get("/v2/groups/G1", headers=tenant.headers).json()
    assert (group["GroupName"], group["GroupType"]) == ("One", "Committee")


def test_a_record_with_warnings_is_read_again_and_warns_again(client, tenant, engine, reads):
    records = [person("a", Nickname="Al"), person("b", PrimaryEmailAddress="not-an-address")]
    first = post(client, tenant, records)
    assert raw_hashes(engine, tenant) == {"a": None, "b": None}
    reads.clear()
    again = post(client, tenant, records)
    assert counts(again) == (0, 0, 0, 2)
    assert again["warnings"] == first["warnings"]
    assert len(again["warnings"]) == 2
    assert reads.of(records) == [0, 1]


def test_a_reference_is_checked_again_on_every_push(client, tenant, engine, reads):
    post(client, tenant, [person("org", IsOrganization=True, OrganizationName="Org")])
    child = person("kid", ParentContactId="org")
    assert post(client, tenant, [child])["warnings"] == []
    assert raw_hashes(engine, tenant)["kid"] is None
    post(client, tenant, [{"ContactDetails": {"ContactId": "org", "IsDeleted": True}}])
    answer = post(client, tenant, [child])
    assert counts(answer) == (0, 0, 0, 1)
    assert [(w["index"], w["path"]) for w in answer["warnings"]] == [
        (0, "ContactDetails.ParentContactId")
    ]


def test_an_order_is_checked_again_on_every_push(client, tenant, engine):
    product = {"ProductId": "P1", "ProductName": "Book", "Price": 10}
    response = client.post("/v2/product", json=[product], headers=tenant.headers)
    assert response.status_code == 200, response.text
    buyer = {**person("a"), "Orders": [{"OrderId": "O1", "ProductId": "P1"}]}
    assert post(client, tenant, [buyer])["warnings"] == []
    assert raw_hashes(engine, tenant)["a"] is None
    gone = {"ProductId": "P1", "IsDeleted": True}
    assert client.post("/v2/product", json=[gone], headers=tenant.headers).status_code == 200
    answer = post(client, tenant, [buyer])
    assert [(w["index"], w["path"]) for w in answer["warnings"]] == [(0, "Orders[0].ProductId")]


def test_a_deleted_contact_pushed_again_as_before_is_restored(client, tenant, reads):
    record = person("a", FirstName="Ann")
    post(client, tenant, [record])
    post(client, tenant, [{"ContactDetails": {"ContactId": "a", "IsDeleted": True}}])
    reads.clear()
    assert counts(post(client, tenant, [record])) == (0, 1, 0, 0)
    assert reads.of([record]) == [0]
    read = client.get("/v2/contacts/a", headers=tenant.headers).json()
    assert read["ContactDetails"]["FirstName"] == "Ann"
    assert counts(post(client, tenant, [record])) == (0, 0, 0, 1)


def test_a_contact_pushed_twice_in_one_batch_is_replayed_in_order(client, tenant):
    record = person("a", FirstName="Ann")
    post(client, tenant, [record])
    answer = post(client, tenant, [record, record])
    assert counts(answer) == (0, 0, 0, 2)
    assert [(w["index"], w["path"]) for w in answer["warnings"]] == [
        (1, "ContactDetails.ContactId")
    ]
    changed = person("a", FirstName="Bea")
    answer = post(client, tenant, [record, changed, record])
    assert counts(answer) == (0, 2, 0, 1)
    read = client.get("/v2/contacts/a", headers=tenant.headers).json()
    assert read["ContactDetails"]["FirstName"] == "Ann"


def test_the_same_bytes_from_another_tenant_are_not_recognised(client, make_tenant, reads):
    one, other = make_tenant(), make_tenant()
    records = [person("a")]
    post(client, one, records)
    reads.clear()
    assert counts(post(client, other, records)) == (1, 0, 0, 0)
    assert reads.of(records) == [0]


def test_the_platform_is_part_of_the_digest(make_tenant, engine):
    community, essentials = make_tenant("community"), make_tenant("community-essentials")
    raw = split_body(orjson.dumps([person("a")]), 10).raws
    assert raw is not None
    seeds = [raw_seed(find_tenant(engine, t.code)) for t in (community, essentials)]
    assert raw_digests(raw, seeds[0]) != raw_digests(raw, seeds[1])


def push_in_between(
    make_client: Any, monkeypatch: pytest.MonkeyPatch, engine: Any, tenant: Any, between: bytes
) -> Any:
    """A client whose contact pushes commit `between` (another push of the tenant) after their
    records were recognised and before their write transaction, as a concurrent push can (a
    push too large to be read inside its write transaction)."""
    from pushapi.request_ids import new_request_id

    monkeypatch.setattr(pushapi.push.apply, "SMALL_PUSH", 0)

    def find_then_push(conn: Any, stored_tenant: Any, raws: Any, versioned: bool) -> Any:
        recognition = recognise_contacts(conn, stored_tenant, raws, versioned)
        other = PushRequest(
            new_request_id(), ENDPOINTS_BY_NAME["contactinfo"], stored_tenant, tenant.key_id,
            datetime.now(UTC), 0.0,
        )  # fmt: skip
        run_push(engine, other, [between], PushLimits(10_000, RecordLimits(1000, 100_000)))
        return recognition

    contactinfo = ENDPOINTS_BY_NAME["contactinfo"]
    patched = dataclasses.replace(
        contactinfo, recognizer=Recognizer(find_then_push, recognition_holds)
    )
    endpoints = tuple(
        patched if e is contactinfo else e for e in pushapi.routes.push.PUSH_ENDPOINTS
    )
    monkeypatch.setattr(pushapi.routes.push, "PUSH_ENDPOINTS", endpoints)
    return make_client()


def test_a_contact_written_after_its_record_was_recognised_is_read_in_full(
    client, make_client, tenant, engine, monkeypatch, reads
):
    old = person("a", FirstName="Ann")
    post(client, tenant, [old])
    racing = push_in_between(
        make_client, monkeypatch, engine, tenant, orjson.dumps([person("a", FirstName="Bea")])
    )
    reads.clear()
    assert counts(post(racing, tenant, [old])) == (0, 1, 0, 0)
    assert orjson.dumps(old) in reads.seen  # recognised, then read in full
    read = client.get("/v2/contacts/a", headers=tenant.headers).json()
    assert read["ContactDetails"]["FirstName"] == "Ann"


def test_recognised_contacts_are_not_read_while_no_contact_was_written_in_between(
    client, make_client, tenant, engine, monkeypatch, reads
):
    records = [person("a"), person("b")]
    post(client, tenant, records)
    # A push in between that writes no contact (all unchanged) leaves the version where it was.
    racing = push_in_between(make_client, monkeypatch, engine, tenant, orjson.dumps(records[:1]))
    reads.clear()
    assert counts(post(racing, tenant, records)) == (0, 0, 0, 2)
    assert reads.of(records) == []


def updated_at(client: Any, tenant: Any, contact_id: str) -> str:
    response = client.get(f"/v2/contacts/{contact_id}", headers=tenant.headers)
    return str(response.json()["Meta"]["UpdatedAt"])


def test_an_unchanged_contact_pushed_as_other_bytes_is_recognised_as_those_next_time(
    client, tenant, engine, reads
):
    record = person("a", FirstName="Ann")
    post(client, tenant, [record])
    first_digest = raw_hashes(engine, tenant)["a"]
    modified = updated_at(client, tenant, "a")
    # The same contact, its properties in another order: other bytes, the same content.
    reordered = {"ContactDetails": {"LastName": "Doe", "FirstName": "Ann", "ContactId": "a"}}
    reads.clear()
    assert counts(post(client, tenant, [reordered])) == (0, 0, 0, 1)
    assert reads.of([reordered]) == [0]
    assert raw_hashes(engine, tenant)["a"] not in (None, first_digest)
    assert updated_at(client, tenant, "a") == modified  # not reported as modified
    reads.clear()
    assert counts(post(client, tenant, [reordered])) == (0, 0, 0, 1)
    assert reads.of([reordered]) == []


def test_a_contact_stored_without_a_digest_gets_one_on_its_next_unchanged_push(
    client, tenant, engine, reads
):
    """As after the upgrade that introduced digests: stored contacts had none."""
    record = person("a", FirstName="Ann")
    post(client, tenant, [record])
    with engine.begin() as conn:
        conn.execute(
            update(contacts)
            .where(contacts.c.tenant_id == tenant.tenant_id)
            .values(raw_hash=None, group_attributes=None)
        )
    reads.clear()
    assert counts(post(client, tenant, [record])) == (0, 0, 0, 1)
    assert reads.of([record]) == [0]
    assert raw_hashes(engine, tenant)["a"] is not None
    reads.clear()
    assert counts(post(client, tenant, [record])) == (0, 0, 0, 1)
    assert reads.of([record]) == []


def test_digests_kept_under_other_reading_rules_are_not_recognised(
    client, tenant, engine, reads, monkeypatch
):
    """The digests are seeded with the fingerprint of the reading rules (schema/fingerprint.py):
    after an upgrade that changes the rules, each contact is read in full once again."""
    record = person("a", FirstName="Ann")
    post(client, tenant, [record])
    reads.clear()
    assert counts(post(client, tenant, [record])) == (0, 0, 0, 1)
    assert reads.of([record]) == []
    monkeypatch.setattr(pushapi.store.contacts, "reading_fingerprint", lambda: "0" * 16)
    assert counts(post(client, tenant, [record])) == (0, 0, 0, 1)
    assert reads.of([record]) == [0]
    reads.clear()
    assert counts(post(client, tenant, [record])) == (0, 0, 0, 1)
    assert reads.of([record]) == []  # recognised again, under the new rules
