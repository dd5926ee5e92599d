"""JSON Schemas of the objects, derived from the field tables: as pushed (what a push accepts)
and as read back (what the read API returns: every field, normalised)."""

from typing import Any

from pushapi.schema.fields import Field, Need, ObjectSchema, walk
from pushapi.schema.values import (
    BOOL_PATTERN,
    DATETIME_FORMATS,
    DATETIME_PATTERN,
    DECIMAL_PATTERN,
    INTEGER_PATTERN,
    SPACE_CLASS,
    Kind,
)

READ_SUFFIX = "Record"  # a component of the read-back form: "ContactDetailsRecord"
UTC_MILLIS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def blank_or(pattern: str, strip: bool = False) -> str:
    """A string that is blank (no value, SPEC 3.1) or matches `pattern` (around which white
    space is allowed, with `strip`)."""
    if strip:
        return f"^{SPACE_CLASS}*(?:{pattern})?{SPACE_CLASS}*$"
    return f"^(?:{SPACE_CLASS}*|{pattern})$"


# Required text: at least one character that is not white space.
NOT_BLANK = f"[^{SPACE_CLASS[1:-1]}]"
DATETIME_STRING = blank_or(DATETIME_PATTERN)
BOOL_STRING = blank_or(BOOL_PATTERN, strip=True)


def field_schema(f: Field) -> dict[str, Any]:
    """The JSON Schema of one field as pushed, from its kind and limits (SPEC 3.1)."""
    kind = f.kind
    if kind is Kind.OBJECT:
        assert f.item is not None
        schema: dict[str, Any] = _ref(f.item.name)
    elif kind is Kind.OBJECT_LIST:
        assert f.item is not None
        schema = {"type": "array", "items": _ref(f.item.name)}
    elif kind is Kind.ID_LIST:
        item = {"type": "string", "maxLength": f.length_limit, "pattern": NOT_BLANK}
        schema = {"type": "array", "items": item}
    elif kind in (Kind.ID, Kind.STRING):
        schema = {"type": "string", "maxLength": f.length_limit}
        if f.pattern is not None:
            schema["pattern"] = f.pattern
        elif f.need is Need.REQUIRED:
            schema["pattern"] = NOT_BLANK
    elif kind is Kind.INT:
        schema = {"type": ["integer", "string"], "pattern": blank_or(INTEGER_PATTERN, True)}
    elif kind is Kind.BOOL:
        schema = {
            "type": ["boolean", "string"],
            "pattern": BOOL_STRING,
            "description": 'true/false or "true"/"false" in any letter case',
        }
    elif kind is Kind.DECIMAL:
        schema = {"type": ["number", "string"], "pattern": blank_or(DECIMAL_PATTERN, True)}
    else:
        schema = {"type": "string", "pattern": DATETIME_STRING, "description": DATETIME_FORMATS}
    if f.minimum is not None:
        schema["minimum"] = float(f.minimum)
    if f.maximum is not None:
        schema["maximum"] = float(f.maximum)
    notes = [text for text in (schema.get("description"), f.doc) if text]
    if f.need is Need.REQUIRED_UNLESS_DELETED:
        notes.append("required unless IsDeleted is true")
    if notes and "$ref" not in schema:
        schema["description"] = ". ".join(notes)
    if f.need is Need.OPTIONAL and "$ref" not in schema:
        schema = {**schema, "nullable": True}
    return schema


def object_schema(schema: ObjectSchema) -> dict[str, Any]:
    """The JSON Schema of one object as pushed (property names also match in any letter case)."""
    return {
        "type": "object",
        "description": schema.doc,
        "properties": {f.name: field_schema(f) for f in schema.fields},
        "required": [f.name for f in schema.fields if f.need is Need.REQUIRED],
    }


_READ_TYPES: dict[Kind, dict[str, Any]] = {
    Kind.ID: {"type": "string"},
    Kind.STRING: {"type": "string"},
    Kind.INT: {"type": "integer", "format": "int32"},
    Kind.BOOL: {"type": "boolean"},
    Kind.DECIMAL: {"type": "number", "format": "decimal"},
    Kind.DATETIME: {"type": "string", "format": "date-time", "pattern": UTC_MILLIS},
    Kind.ID_LIST: {"type": "array", "items": {"type": "string"}},
}


def read_field_schema(f: Field) -> dict[str, Any]:
    """The JSON Schema of one field as read back: normalised values, null where none."""
    if f.kind is Kind.OBJECT or f.kind is Kind.OBJECT_LIST:
        assert f.item is not None
        ref = _ref(f.item.name + READ_SUFFIX)
        return ref if f.kind is Kind.OBJECT else {"type": "array", "items": ref}
    schema = dict(_READ_TYPES[f.kind])
    if f.doc:
        schema["description"] = f.doc
    if f.need is not Need.REQUIRED:
        schema["nullable"] = True
    return schema


def read_object_schema(schema: ObjectSchema) -> dict[str, Any]:
    """The JSON Schema of one object as read back: every field is present."""
    return {
        "type": "object",
        "description": schema.doc,
        "properties": {f.name: read_field_schema(f) for f in schema.fields},
        "required": [f.name for f in schema.fields],
    }


def object_components(roots: list[ObjectSchema]) -> dict[str, Any]:
    """Every object schema reachable from `roots`, as pushed and as read back."""
    components: dict[str, Any] = {}
    for root in roots:
        for s in walk(root):
            components[s.name] = object_schema(s)
            components[s.name + READ_SUFFIX] = read_object_schema(s)
    return components
