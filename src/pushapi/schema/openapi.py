"""The OpenAPI description of the objects and bodies, derived from the field tables."""

from typing import Any

from pushapi.schema.fields import Field, Need, ObjectSchema, walk
from pushapi.schema.values import DATETIME_FORMATS, Kind

_ISSUE = {
    "type": "object",
    "properties": {
        "index": {"type": "integer", "description": "Position of the record in the pushed array"},
        "path": {"type": "string", "example": "ContactDetails.FirstName"},
        "message": {"type": "string"},
    },
    "required": ["index", "path", "message"],
}

RESPONSE_SCHEMAS: dict[str, Any] = {
    "Issue": _ISSUE,
    "PushResult": {
        "type": "object",
        "description": "received = created + updated + deleted + unchanged",
        "properties": {
            "requestId": {"type": "string"},
            "received": {"type": "integer"},
            "created": {"type": "integer"},
            "updated": {"type": "integer"},
            "deleted": {"type": "integer"},
            "unchanged": {"type": "integer"},
            "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}},
        },
        "required": [
            "requestId",
            "received",
            "created",
            "updated",
            "deleted",
            "unchanged",
            "warnings",
        ],
    },
    "Error": {
        "type": "object",
        "properties": {
            "error": {"type": "string", "example": "validation_failed"},
            "message": {"type": "string"},
            "requestId": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Issue"},
                "description": "With validation_failed: every problem found, not only the first",
            },
        },
        "required": ["error", "message"],
    },
}


def field_schema(f: Field) -> dict[str, Any]:
    """The JSON Schema of one field, from its kind and limits."""
    kind = f.kind
    if kind is Kind.OBJECT:
        assert f.item is not None
        schema: dict[str, Any] = {"$ref": f"#/components/schemas/{f.item.name}"}
    elif kind is Kind.OBJECT_LIST:
        assert f.item is not None
        schema = {"type": "array", "items": {"$ref": f"#/components/schemas/{f.item.name}"}}
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
    """The JSON Schema of one object (property names also match in any letter case)."""
    return {
        "type": "object",
        "description": schema.doc,
        "properties": {f.name: field_schema(f) for f in schema.fields},
        "required": [f.name for f in schema.fields if f.need is Need.REQUIRED],
    }


def component_schemas(roots: list[ObjectSchema]) -> dict[str, Any]:
    """Every object schema reachable from `roots`, plus the response bodies."""
    components = {s.name: object_schema(s) for root in roots for s in walk(root)}
    return {**components, **RESPONSE_SCHEMAS}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("Invalid body, or invalid records (validation_failed, with every error)"),
    401: _error("ApiKey header missing, unknown or revoked"),
    404: _error("Not found (records of other tenants are never visible)"),
    421: _error("The tenant is hosted in another region"),
    500: _error("Unexpected failure; nothing was changed"),
    503: _error("Every database connection is busy; retry after Retry-After seconds"),
}


def push_openapi(schema: ObjectSchema) -> dict[str, Any]:
    """The route options that describe a push endpoint's body and answers."""
    body = {"type": "array", "items": {"$ref": f"#/components/schemas/{schema.name}"}}
    return {
        "openapi_extra": {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}, "text/json": {"schema": body}},
            }
        },
        "responses": {
            200: {
                "description": "Applied and committed",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PushResult"}}
                },
            },
            **ERROR_RESPONSES,
            403: _error("Endpoint not available on the tenant's platform"),
            405: _error("Only POST is allowed"),
            413: _error("Body or record count over the limit"),
            415: _error("Content-Type is not application/json or text/json"),
            429: _error("Too many requests; see Retry-After"),
        },
    }
