"""The building blocks of the document: responses, request bodies, parameters, operations."""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/{model}"


def schema(name: str) -> dict[str, str]:
    """A reference to the component schema ``name``."""
    return {"$ref": REF.format(model=name)}


def error(description: str) -> dict[str, Any]:
    """A response with the JSON error body ``{"error": {"code", "message"}}``."""
    return {"description": description, "content": {"application/json": {"schema": schema("Error")}}}


def json_of(name: str, description: str = "OK") -> dict[str, Any]:
    """A response whose JSON body is the component schema ``name``."""
    return {"description": description, "content": {"application/json": {"schema": schema(name)}}}


def any_object(description: str = "OK") -> dict[str, Any]:
    """A response whose body is a JSON object of no declared shape."""
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def body(name: str, *, required: bool = True) -> dict[str, Any]:
    """A JSON request body of the component schema ``name``."""
    return {"required": required, "content": {"application/json": {"schema": schema(name)}}}


ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]
AUTH = [{"bearer": []}]
UNAUTHORIZED = {"401": error("missing or invalid bearer token")}
FORBIDDEN = {
    "403": error(
        "the token's role may not do this; not_assignee: another agent holds the conversation; "
        "not_qualified: the agent lacks the skill levels its queue requires"
    )
}
NOT_FOUND = {"404": error("no such conversation or contact")}
INVALID = {"400": error("malformed JSON"), "422": error("a field is missing or invalid")}
UNAVAILABLE = {"503": error("storage is unavailable; retry later")}
BAD_HEADER = {"400": error("bad_header: a header the gateway reads is not UTF-8 text")}


def operation(
    summary: str, responses: dict[str, Any], *, tags: list[str], auth: bool = True, **extra: Any
) -> dict[str, Any]:
    """An operation of the API: every one may answer 503 (storage down); one that needs a
    bearer token (``auth``) says so, and may answer 401. ``extra``: parameters, requestBody …"""
    op: dict[str, Any] = {"summary": summary, "tags": tags, "responses": {**responses, **UNAVAILABLE}}
    if auth:
        op["security"] = AUTH
        op["responses"].update(UNAUTHORIZED)
    op.update(extra)
    return op
