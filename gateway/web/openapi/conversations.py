"""Paths of the conversations API agents and integrations use: read, claim, reply, attachments,
transfer, pending, resolve; and contacts."""

from __future__ import annotations

from typing import Any

from gateway.model import Channel
from gateway.web.openapi.parts import FORBIDDEN, ID, INVALID, NOT_FOUND, any_object, body, error, json_of, operation


def paths() -> dict[str, Any]:
    conversations = ["conversations"]
    return {
        "/api/v1/conversations": {
            "get": operation(
                "List or search conversations, newest first",
                {"200": json_of("ConversationList"), "400": error("bad filter or cursor")},
                tags=conversations,
                parameters=[
                    {
                        "name": "q",
                        "in": "query",
                        "description": "words that must all occur in the conversation's messages, its contact's "
                        "name or identities, or a case number on it (Chinese, Japanese, Korean: 2 characters or more)",
                        "schema": {"type": "string", "maxLength": 200},
                    },
                    {
                        "name": "channel",
                        "in": "query",
                        "schema": {"type": "string", "enum": sorted(c.value for c in Channel)},
                    },
                    {
                        "name": "assignee",
                        "in": "query",
                        "description": "an agent's name, `me` (the calling agent) or `-` (nobody)",
                        "schema": {"type": "string", "maxLength": 128},
                    },
                    {
                        "name": "sla",
                        "in": "query",
                        "description": "reply-by passed (overdue) or within the next hour (due_soon)",
                        "schema": {"type": "string", "enum": ["due_soon", "overdue"]},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "description": "next_cursor of the page before; a page may hold fewer than limit "
                        "while next_cursor is not null",
                        "schema": {"type": "string", "maxLength": 160, "pattern": r"^$|^[0-9]{1,16}\..{1,128}$"},
                    },
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["open", "pending", "resolved"]},
                    },
                    {"name": "queue", "in": "query", "schema": {"type": "string"}},
                    {"name": "contact_id", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                    {
                        "name": "before",
                        "in": "query",
                        "description": "next_before of the previous page",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 2**53},
                    },
                ],
            )
        },
        "/api/v1/conversations/{id}": {
            "get": operation(
                "A conversation with messages, contact, routing decision and reply tracking",
                {"200": json_of("ConversationView"), **NOT_FOUND},
                tags=conversations,
                parameters=ID,
            )
        },
        "/api/v1/conversations/{id}/claim": {
            "post": operation(
                "Claim for the calling agent",
                {
                    "200": json_of("ConversationView"),
                    "409": error("stale offer, taken, resolved or at capacity"),
                    **NOT_FOUND,
                    **FORBIDDEN,
                    **INVALID,
                },
                tags=conversations,
                parameters=ID,
                requestBody=body("ClaimBody", required=False),
            )
        },
        "/api/v1/agents/me/next": {
            "post": operation(
                "Claim the best waiting conversation the agent can serve",
                {
                    "200": json_of("ConversationView"),
                    "204": {"description": "nothing waiting"},
                    "409": error("at capacity"),
                    **FORBIDDEN,
                },
                tags=conversations,
            )
        },
        "/api/v1/conversations/{id}/messages": {
            "post": operation(
                "Reply (or add an internal note)",
                {
                    "202": json_of("Message", "stored as queued; sent on the conversation's channel"),
                    "409": error(
                        "window_closed: the messaging window closed; send a template; capacity: a reply that "
                        "would claim the conversation beyond the agent's capacity"
                    ),
                    "501": error("the channel cannot send"),
                    **NOT_FOUND,
                    **FORBIDDEN,
                    **INVALID,
                },
                tags=conversations,
                parameters=ID,
                requestBody=body("ReplyBody"),
            )
        },
        "/api/v1/conversations/{id}/messages/{message_id}/attachments/{index}": {
            "get": operation(
                "Download a stored attachment (email attachments kept under channels.email.attachments_dir)",
                {
                    "200": {
                        "description": "the file, always as a download (Content-Disposition: attachment with "
                        "an RFC 5987 filename*), with the attachment's content type and nosniff",
                        "headers": {
                            "Content-Disposition": {"schema": {"type": "string"}},
                            "X-Content-Type-Options": {"schema": {"type": "string", "enum": ["nosniff"]}},
                        },
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "404": error(
                        "not_found: no such conversation; message_not_found: no such message in it; "
                        "attachment_not_found: index out of range; not_stored: the attachment has only a URL "
                        "(given in the message and as url) or a provider media id; no_attachment_store: "
                        "no attachment store is configured; attachment_gone: the file is no longer on disk"
                    ),
                    "422": error("invalid_index: the index is not a whole number from 0"),
                    **FORBIDDEN,
                },
                tags=conversations,
                parameters=[
                    *ID,
                    {
                        "name": "message_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1},
                    },
                    {"name": "index", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}},
                ],
            )
        },
        "/api/v1/conversations/{id}/transfer": {
            "post": operation(
                "Re-route to another queue",
                {"200": json_of("ConversationView"), "409": error("resolved"), **NOT_FOUND, **FORBIDDEN, **INVALID},
                tags=conversations,
                parameters=ID,
                requestBody=body("TransferBody"),
            )
        },
        "/api/v1/conversations/{id}/pending": {
            "post": operation(
                "Waiting on the customer: the reply clock stops",
                {"200": json_of("ConversationView"), "409": error("resolved"), **NOT_FOUND, **FORBIDDEN},
                tags=conversations,
                parameters=ID,
            )
        },
        "/api/v1/conversations/{id}/resolve": {
            "post": operation(
                "Resolve",
                {"200": json_of("ConversationView"), **NOT_FOUND, **FORBIDDEN},
                tags=conversations,
                parameters=ID,
            )
        },
        "/api/v1/conversations/{id}/typing": {
            "post": operation(
                "The agent is typing: the customer sees it where the channel can show it (web chat)",
                {
                    "200": {
                        "description": "shown: whether the customer's channel shows it",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["shown"],
                                    "properties": {"shown": {"type": "boolean"}},
                                }
                            }
                        },
                    },
                    **NOT_FOUND,
                    **FORBIDDEN,
                },
                tags=conversations,
                parameters=ID,
            )
        },
        "/api/v1/contacts/{id}": {
            "get": operation(
                "A contact, identities and conversations",
                {"200": any_object(), **NOT_FOUND},
                tags=["contacts"],
                parameters=ID,
            )
        },
        "/api/v1/contacts/{id}/merge": {
            "post": operation(
                "Merge another contact into this one",
                {"200": json_of("Contact"), "409": error("same, already merged"), **NOT_FOUND, **INVALID},
                tags=["contacts"],
                parameters=ID,
                requestBody=body("MergeBody"),
            )
        },
    }
