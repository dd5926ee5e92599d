"""The fingerprint of the reading rules of pushed contacts.

Raw digests (store/contacts.py) recognise a record pushed again byte for byte as unchanged,
without reading it. That is only right while the record would be read, checked and stored as it
was, so the digests are seeded with this fingerprint: the field tables and the code of every
module that reads, checks or normalises a record. When any of them changes, digests kept under
the old rules are no longer recognised, and the next push of each contact reads it in full once.

Comments, docstrings and formatting do not count (the code is compared as its syntax tree).
tests/test_fingerprint.py pins the value, so that a change of the rules is noticed and the
fingerprint updated deliberately.
"""

import ast
import hashlib
from functools import cache
from pathlib import Path

from pushapi.schema.contact import CONTACT_INFO
from pushapi.schema.fields import ObjectSchema, walk

PACKAGE = Path(__file__).resolve().parent.parent
# The modules that decide how a pushed contact is read, checked and stored.
READING_MODULES = (
    "schema/values.py",
    "schema/fields.py",
    "schema/compiled.py",
    "schema/native.pyx",
    "schema/contact.py",
    "schema/warnings.py",
    "store/contact_rows.py",
    "store/documents.py",
    "push/read.py",
)


def _tables(schema: ObjectSchema) -> str:
    """Every object's fields in order: name, kind, need, limits; and its rules by name."""
    lines = []
    for s in sorted(walk(schema), key=lambda s: s.name):
        rules = ",".join(getattr(rule.check, "__qualname__", "?") for rule in s.rules)
        lines.append(f"{s.name} deletion={s.deletion_field} rules={rules}")
        for f in s.fields:
            item = f.item.name if f.item else ""
            lines.append(
                f"  {f.name} {f.kind.value} {f.need.value} {f.length_limit} {f.minimum}"
                f" {f.maximum} {item}"
            )
    return "\n".join(lines)


def _code(path: Path) -> str:
    """A module's code without comments, docstrings or formatting."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":  # Cython: its lines without comments and blank lines
        kept = (line.split("#")[0].rstrip() for line in text.splitlines())
        return "\n".join(line for line in kept if line.strip())
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body[0] = ast.Pass()  # the docstring
    return ast.dump(tree, annotate_fields=False)


@cache
def reading_fingerprint() -> str:
    """16 hex digits that change whenever the reading rules of contacts change."""
    digest = hashlib.sha256(_tables(CONTACT_INFO).encode())
    for name in READING_MODULES:
        digest.update(f"\n{name}\n".encode())
        digest.update(_code(PACKAGE / name).encode())
    return digest.hexdigest()[:16]
