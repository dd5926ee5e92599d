"""JSON Schemas of the objects, derived from the field tables: as pushed (what a push accepts)
and as read back (what the read API returns: every field, normalised)."""

from typing import Any

from pushapi.schema.fields import Field, Need, ObjectSchema, walk
from pushapi.schema.values import DATETIME_FORMATS, Kind

READ_SUFFIX = "Record"  # a component of the read-back form: "ContactDetailsRecord"
UTC_MILLIS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


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
        schema = {"type": "array", "items": {"type": "string", "maxLength": f.length_limit}}
    elif kind in (Kind.ID, Kind.STRING):
        schema = {"type": "string", "maxLength": f.length_limit}
    elif kind is Kind.INT:
        schema = {"type": ["integer", "string"], "format": "int32"}
    elif kind is Kind.BOOL:
        schema = {"type": ["boolean", "string"], "description": 'true/false or "true"/"false"'}
    elif kind is Kind.DECIMAL:
        schema = {"type": ["number", "string"], "format": "decimal"}
    else:
        schema = {"type": "string", "format": "date-time", "description": DATETIME_FORMATS}
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
