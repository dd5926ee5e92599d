"""The canonical example pushes, reads back and re-pushes unchanged, on every engine."""

import json

from conftest import EXAMPLES


def test_canonical_contacts_push_read_back_and_repush_unchanged(client, tenant):
    records = json.loads((EXAMPLES / "canonical-contacts.json").read_text())
    first = client.post("/v2/contactinfo", json=records, headers=tenant.headers)
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["unchanged"]) == (2, 0)
    back = client.get("/v2/contacts/C000001", headers=tenant.headers).json()
    assert back["ContactDetails"]["FirstName"] == records[0]["ContactDetails"]["FirstName"]
    del back["Meta"]
    again = client.post("/v2/contactinfo", json=[back], headers=tenant.headers)
    assert again.json()["unchanged"] == 1, again.text
