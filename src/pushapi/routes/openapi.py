"""The OpenAPI description of the API: object schemas from the field tables, response schemas
from the structures the answers are encoded from, the error shape, and the answers of each
route."""

from collections.abc import Sequence
from typing import Any

import msgspec

from pushapi.auth import PUSH_SECURITY
from pushapi.errors import ERROR_SCHEMA
from pushapi.push.options import (
    DRY_RUN,
    IDEMPOTENCY_KEY,
    KEY_PATTERN,
    ON_ERROR,
    ON_ERROR_VALUES,
)
from pushapi.schema.fields import ObjectSchema
from pushapi.schema.openapi import READ_SUFFIX, object_components

META_SCHEMA = {
    "type": "object",
    "description": "The stored state of a record",
    "properties": {
        "CreatedAt": {"type": "string", "format": "date-time"},
        "UpdatedAt": {"type": "string", "format": "date-time"},
        "IsDeleted": {"type": "boolean"},
    },
    "required": ["CreatedAt", "UpdatedAt", "IsDeleted"],
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_answer(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: error_answer("Invalid body, or invalid records (validation_failed, with every error)"),
    401: error_answer("ApiKey header missing, unknown or revoked"),
    404: error_answer("Not found (records of other tenants are never visible)"),
    421: error_answer("The tenant is hosted in another region"),
    500: error_answer("Unexpected failure; nothing was changed"),
    503: error_answer("Every database connection is busy; retry after Retry-After seconds"),
}


# SPEC 3.2: the options of every push endpoint (push/options.py reads them).
PUSH_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": DRY_RUN,
        "in": "query",
        "required": False,
        "description": "true: everything a push does except storing; the answer is the one "
        "the push would give now, with dryRun: true (any letter case)",
        "schema": {"type": "string", "enum": ["true", "false"], "default": "false"},
    },
    {
        "name": ON_ERROR,
        "in": "query",
        "required": False,
        "description": "skip: invalid records are left out, listed in errors and counted in "
        "rejected; the others are applied together. reject: any invalid record is a 400",
        "schema": {"type": "string", "enum": list(ON_ERROR_VALUES), "default": "reject"},
    },
    {
        "name": IDEMPOTENCY_KEY,
        "in": "header",
        "required": False,
        "description": "1-255 visible ASCII characters, scoped to the tenant and kept "
        "PUSHAPI_IDEMPOTENCY_TTL_HOURS (24): the same request again gets the first answer "
        "(200 or 400) byte for byte, with Idempotent-Replayed: true, and is not applied again. "
        "Ignored by a dry run",
        "schema": {"type": "string", "pattern": KEY_PATTERN.pattern},
    },
]
_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "true when the answer is the one kept for the Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def push_openapi(schema: ObjectSchema) -> dict[str, Any]:
    """The route options that describe a push endpoint's body, options and answers."""
    body = {"type": "array", "items": _ref(schema.name)}
    applied = _json(_ref("PushResult"), "Applied and committed (a dry run: nothing changed)")
    invalid = error_answer(
        "Invalid body, invalid records (validation_failed: every error, and the warnings), "
        "invalid_parameter (dryRun, onError) or invalid_idempotency_key"
    )
    return {
        "openapi_extra": {
            "security": PUSH_SECURITY,
            "parameters": PUSH_PARAMETERS,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}, "text/json": {"schema": body}},
            },
        },
        "responses": {
            200: {**applied, "headers": _REPLAYED},
            **ERROR_RESPONSES,
            400: {**invalid, "headers": _REPLAYED},
            403: error_answer("Endpoint not available on the tenant's platform"),
            405: error_answer("Only POST is allowed"),
            409: error_answer(
                "idempotency_key_in_use: the first request with this Idempotency-Key is still "
                "running; retry after Retry-After seconds"
            ),
            413: error_answer("Body or record count over the limit"),
            415: error_answer("Content-Type is not application/json or text/json"),
            422: error_answer(
                "idempotency_key_reused: the Idempotency-Key was used for another endpoint, "
                "query or body"
            ),
            429: error_answer("Too many requests; see Retry-After"),
        },
    }


def _page(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item},
            "nextCursor": {
                "type": "string",
                "nullable": True,
                "description": "Pass as `cursor` for the next page; null on the last page",
            },
        },
        "required": ["items", "nextCursor"],
    }


def one_answer(component: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The answers of a GET of one record, described by `component`."""
    return {200: _json(_ref(component), description), **ERROR_RESPONSES}


def page_answer(component: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The answers of a listing of `component` items (SPEC 5: items and nextCursor)."""
    return {200: _json(_page(_ref(component)), description), **ERROR_RESPONSES}


def with_meta(name: str) -> dict[str, Any]:
    """A record as read back (the `Record` form of its object) with its Meta."""
    return {
        "allOf": [
            _ref(name + READ_SUFFIX),
            {"type": "object", "properties": {"Meta": _ref("Meta")}, "required": ["Meta"]},
        ]
    }


def components(
    roots: list[ObjectSchema], read_forms: dict[str, dict[str, Any]], structs: Sequence[type]
) -> dict[str, Any]:
    """Every schema the document refers to: objects, read forms, answers and the error."""
    _, from_structs = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}"
    )
    return {
        **object_components(roots),
        **read_forms,
        **from_structs,
        "Meta": META_SCHEMA,
        "Error": ERROR_SCHEMA,
    }
