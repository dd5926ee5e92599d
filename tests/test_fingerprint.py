"""The fingerprint of the reading rules (schema/fingerprint.py) seeds the raw digests by which
contacts pushed again byte for byte are known unchanged without being read."""

import dataclasses
from pathlib import Path

from pushapi.schema import fingerprint
from pushapi.schema.contact import CONTACT_DETAILS, CONTACT_INFO
from pushapi.schema.fields import Field, ObjectSchema
from pushapi.schema.values import Kind
from pushapi.store.contacts import raw_seed
from pushapi.tenants import Tenant

# When this fails, the way a pushed contact is read, checked or stored has changed: digests
# kept under the old rules will no longer be recognised (the next push of each contact reads it
# in full once, then keeps the new digest). That is what must happen when the rules change, so
# check that the change is meant, then set the value the test shows.
PINNED = "4066fa8306806a03"


def test_the_reading_fingerprint_is_pinned():
    assert fingerprint.reading_fingerprint() == PINNED, (
        "the reading rules of contacts changed (schema/fingerprint.py READING_MODULES or the "
        "field tables): update PINNED in tests/test_fingerprint.py deliberately"
    )


def test_raw_digests_are_seeded_with_the_fingerprint_and_the_platform():
    tenant = Tenant(1, "t", "community", "us", frozenset(), None)  # type: ignore[arg-type]
    seed = raw_seed(tenant)
    assert fingerprint.reading_fingerprint().encode() in seed
    assert b"community" in seed
    assert raw_seed(dataclasses.replace(tenant, platform="community-essentials")) != seed


def test_a_change_of_a_field_table_changes_the_tables_part():
    longer = dataclasses.replace(CONTACT_DETAILS.fields[0], max_length=300)
    details = ObjectSchema(
        CONTACT_DETAILS.name,
        (longer, *CONTACT_DETAILS.fields[1:]),
        rules=CONTACT_DETAILS.rules,
        deletion_field=CONTACT_DETAILS.deletion_field,
    )
    info = ObjectSchema(
        CONTACT_INFO.name,
        (Field("ContactDetails", Kind.OBJECT, item=details), *CONTACT_INFO.fields[1:]),
    )
    assert fingerprint._tables(info) != fingerprint._tables(CONTACT_INFO)


def test_comments_and_docstrings_do_not_count_but_code_does(tmp_path: Path):
    plain = tmp_path / "a.py"
    commented = tmp_path / "b.py"
    changed = tmp_path / "c.py"
    plain.write_text('def f(x):\n    """Say why."""\n    return x + 1\n')
    commented.write_text('def f(x):  # a comment\n    """Another why."""\n\n    return x+1\n')
    changed.write_text('def f(x):\n    """Say why."""\n    return x + 2\n')
    assert fingerprint._code(plain) == fingerprint._code(commented)
    assert fingerprint._code(plain) != fingerprint._code(changed)


def test_every_reading_module_exists():
    for name in fingerprint.READING_MODULES:
        assert (fingerprint.PACKAGE / name).is_file(), name
