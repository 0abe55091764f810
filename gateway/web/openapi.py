"""The OpenAPI 3.1 document at ``/api/v1/openapi.json``.

Component schemas come from the pydantic models the handlers use, so the document cannot
drift from the code; a test checks that every route the app serves is described here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from gateway.channels.api import ApiInbound
from gateway.model import Contact, Conversation, Message, RoutingDecision
from gateway.web.conversation_api import ClaimBody, MergeBody, ReplyBody, TransferBody
from gateway.web.routing_api import SimulateRequest
from gateway.web.views import ok

REF = "#/components/schemas/{model}"


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(ref: str, description: str = "OK") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _free(description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def _body(ref: str, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]
AUTH = [{"bearer": []}]
COMMON = {"401": _error("missing or invalid bearer token")}
FORBIDDEN = {
    "403": _error(
        "the token's role may not do this; not_assignee: another agent holds the conversation; "
        "not_qualified: the agent lacks the skill levels its queue requires"
    )
}
NOT_FOUND = {"404": _error("no such conversation or contact")}
INVALID = {"400": _error("malformed JSON"), "422": _error("a field is missing or invalid")}
UNAVAILABLE = {"503": _error("storage is unavailable; retry later")}


def _op(summary: str, responses: dict[str, Any], *, tags: list[str], auth: bool = True, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": tags, "responses": {**responses, **UNAVAILABLE}}
    if auth:
        op["security"] = AUTH
        op["responses"].update(COMMON)
    op.update(extra)
    return op


def _form_webhook(summary: str, fields: list[str], signature: str, *, xml: bool = True) -> dict[str, Any]:
    properties = {name: {"type": "string"} for name in fields}
    return {
        "summary": summary,
        "tags": ["webhooks"],
        "parameters": [{"name": signature, "in": "header", "required": True, "schema": {"type": "string"}}],
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": properties}}},
        },
        "responses": {
            "200": {"description": "stored (TwiML)", "content": {"text/xml": {"schema": {"type": "string"}}}},
            "400": {"description": "malformed", "content": {"text/xml": {"schema": {"type": "string"}}}},
            "403": {"description": "bad or missing signature", "content": {"text/xml": {"schema": {"type": "string"}}}},
            "404": _error("the channel is not configured"),
            "413": _error("body too large"),
            "503": {
                "description": "storage down: Twilio retries",
                "content": {"text/xml": {"schema": {"type": "string"}}},
            },
        },
    }


def _json_webhook(summary: str, signature: str, *, verification: bool = False) -> dict[str, Any]:
    ops: dict[str, Any] = {
        "post": {
            "summary": summary,
            "tags": ["webhooks"],
            "parameters": [{"name": signature, "in": "header", "required": False, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "200": {"description": "stored"},
                **INVALID,
                "401": _error("missing signature"),
                "403": _error("wrong signature"),
                "404": _error("the channel is not configured"),
                "413": _error("body too large"),
                **UNAVAILABLE,
            },
        }
    }
    if verification:
        ops["get"] = {
            "summary": "Meta's subscription handshake",
            "tags": ["webhooks"],
            "parameters": [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in ("hub.mode", "hub.verify_token", "hub.challenge")
            ],
            "responses": {
                "200": {"description": "the challenge", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "403": {"description": "wrong verify token"},
                "404": _error("the channel is not configured"),
            },
        }
    return ops


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    models: list[type[BaseModel]] = [
        Conversation,
        Message,
        Contact,
        RoutingDecision,
        ApiInbound,
        ClaimBody,
        TransferBody,
        ReplyBody,
        MergeBody,
        SimulateRequest,
    ]
    for model in models:
        schema = model.model_json_schema(ref_template=REF, by_alias=True)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    }
    schemas["ConversationView"] = {
        "allOf": [
            {"$ref": "#/components/schemas/Conversation"},
            {
                "type": "object",
                "properties": {
                    "reply_tracking": {"type": "object"},
                    "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
                    "contact": {"anyOf": [{"$ref": "#/components/schemas/Contact"}, {"type": "null"}]},
                },
            },
        ]
    }
    schemas["ConversationList"] = {
        "type": "object",
        "properties": {
            "conversations": {"type": "array", "items": {"$ref": "#/components/schemas/ConversationView"}},
            "next_before": {"type": ["integer", "null"]},
        },
    }
    schemas["RulesInForce"] = {
        "type": "object",
        "properties": {
            "version": {"type": "string"},
            "loaded_at": {"type": ["string", "null"]},
            "loaded_by": {"type": ["string", "null"], "enum": ["start-up", "file change", "SIGHUP", "api", None]},
            "path": {"type": ["string", "null"]},
            "rules": {"type": "integer"},
            "queues": {"type": "array", "items": {"type": "string"}},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "yaml": {"type": ["string", "null"]},
            "changed": {"type": "boolean"},
        },
    }
    schemas["InvalidRules"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "errors"],
                "properties": {
                    "code": {"type": "string", "const": "invalid_rules"},
                    "message": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "string", "description": "PATH:LINE: message"}},
                },
            }
        },
    }
    schemas["SimulatedDecision"] = {
        "allOf": [
            {"$ref": "#/components/schemas/RoutingDecision"},
            {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}},
        ]
    }
    schemas["Whoami"] = {
        "type": "object",
        "required": ["role", "agent"],
        "properties": {"role": {"type": "string", "enum": ["ops", "agent"]}, "agent": {"type": ["string", "null"]}},
    }
    schemas["AgentSummary"] = {
        "type": "object",
        "properties": {
            "agent": {"type": "string"},
            "capacity": {"type": "integer", "description": "open conversations at once; 0 = no limit"},
            "active": {"type": "integer", "description": "conversations the agent holds now"},
            "queues": {
                "type": "array",
                "description": "the queues the agent can serve",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "depth": {"type": "integer"},
                        "oldest_wait_seconds": {"type": ["number", "null"]},
                        "skills": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "transfer_queues": {"type": "array", "items": {"type": "string"}},
            "conversations": {
                "type": "array",
                "description": "held by the agent (open or pending), the most urgent first",
                "items": {
                    "allOf": [
                        {"$ref": "#/components/schemas/ConversationView"},
                        {
                            "type": "object",
                            "properties": {
                                "contact_name": {"type": "string"},
                                "last_message": {"type": ["object", "null"]},
                            },
                        },
                    ]
                },
            },
            "rules_version": {"type": "string"},
        },
    }
    schemas["IngestAnswer"] = {
        "type": "object",
        "properties": {
            "conversation_id": {"type": "string"},
            "message_id": {"type": "string"},
            "duplicate": {"type": "boolean"},
        },
    }
    return schemas


def _paths() -> dict[str, Any]:
    conversations = ["conversations"]
    ops = ["operations"]
    console = ["console"]
    paths: dict[str, Any] = {
        "/healthz": {"get": _op("Liveness", {"200": _free()}, tags=ops, auth=False)},
        "/readyz": {
            "get": _op(
                "Readiness: storage and broker answer",
                {"200": _free(), "503": _free("not ready")},
                tags=ops,
                auth=False,
            )
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "tags": ops,
                "responses": {
                    "200": {"description": "exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}
                },
            }
        },
        "/api/v1/openapi.json": {"get": _op("This document", {"200": _free()}, tags=ops, auth=False)},
        "/api/v1/conversations": {
            "get": _op(
                "List conversations, newest first",
                {"200": _json("ConversationList"), "400": _error("bad filter")},
                tags=conversations,
                parameters=[
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["open", "pending", "resolved"]},
                    },
                    {"name": "queue", "in": "query", "schema": {"type": "string"}},
                    {"name": "contact_id", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                    {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
            )
        },
        "/api/v1/conversations/{id}": {
            "get": _op(
                "A conversation with messages, contact, routing decision and reply tracking",
                {"200": _json("ConversationView"), **NOT_FOUND},
                tags=conversations,
                parameters=ID,
            )
        },
        "/api/v1/conversations/{id}/claim": {
            "post": _op(
                "Claim for the calling agent",
                {
                    "200": _json("ConversationView"),
                    "409": _error("stale offer, taken, resolved or at capacity"),
                    **NOT_FOUND,
                    **FORBIDDEN,
                    **INVALID,
                },
                tags=conversations,
                parameters=ID,
                requestBody=_body("ClaimBody", required=False),
            )
        },
        "/api/v1/agents/me/next": {
            "post": _op(
                "Claim the best waiting conversation the agent can serve",
                {
                    "200": _json("ConversationView"),
                    "204": {"description": "nothing waiting"},
                    "409": _error("at capacity"),
                    **FORBIDDEN,
                },
                tags=conversations,
            )
        },
        "/api/v1/conversations/{id}/messages": {
            "post": _op(
                "Reply (or add an internal note)",
                {
                    "202": _json("Message", "stored as queued; sent on the conversation's channel"),
                    "409": _error(
                        "window_closed: the messaging window closed; send a template; capacity: a reply that "
                        "would claim the conversation beyond the agent's capacity"
                    ),
                    "501": _error("the channel cannot send"),
                    **NOT_FOUND,
                    **FORBIDDEN,
                    **INVALID,
                },
                tags=conversations,
                parameters=ID,
                requestBody=_body("ReplyBody"),
            )
        },
        "/api/v1/conversations/{id}/messages/{message_id}/attachments/{index}": {
            "get": _op(
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
                    "404": _error(
                        "not_found: no such conversation; message_not_found: no such message in it; "
                        "attachment_not_found: index out of range; not_stored: the attachment has only a URL "
                        "(given in the message and as url) or a provider media id; no_attachment_store: "
                        "no attachment store is configured; attachment_gone: the file is no longer on disk"
                    ),
                    "422": _error("invalid_index: the index is not a whole number from 0"),
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
            "post": _op(
                "Re-route to another queue",
                {"200": _json("ConversationView"), "409": _error("resolved"), **NOT_FOUND, **FORBIDDEN, **INVALID},
                tags=conversations,
                parameters=ID,
                requestBody=_body("TransferBody"),
            )
        },
        "/api/v1/conversations/{id}/pending": {
            "post": _op(
                "Waiting on the customer: the reply clock stops",
                {"200": _json("ConversationView"), "409": _error("resolved"), **NOT_FOUND, **FORBIDDEN},
                tags=conversations,
                parameters=ID,
            )
        },
        "/api/v1/conversations/{id}/resolve": {
            "post": _op(
                "Resolve",
                {"200": _json("ConversationView"), **NOT_FOUND, **FORBIDDEN},
                tags=conversations,
                parameters=ID,
            )
        },
        "/api/v1/contacts/{id}": {
            "get": _op(
                "A contact, identities and conversations",
                {"200": _free(), **NOT_FOUND},
                tags=["contacts"],
                parameters=ID,
            )
        },
        "/api/v1/contacts/{id}/merge": {
            "post": _op(
                "Merge another contact into this one",
                {"200": _json("Contact"), "409": _error("same, already merged"), **NOT_FOUND, **INVALID},
                tags=["contacts"],
                parameters=ID,
                requestBody=_body("MergeBody"),
            )
        },
        "/api/v1/queues": {"get": _op("Queue health", {"200": _free(), **FORBIDDEN}, tags=ops)},
        "/api/v1/stats": {
            "get": _op(
                "Ratings, self-service deflection and reply-tracking figures (all processes)",
                {"200": _free(), **FORBIDDEN},
                tags=ops,
            )
        },
        "/api/v1/me": {
            "get": _op("The role (and agent name) of the calling token", {"200": _json("Whoami")}, tags=console)
        },
        "/api/v1/agents/me": {
            "get": _op(
                "The calling agent: capacity, servable queues with depth, the conversations held",
                {"200": _json("AgentSummary"), **FORBIDDEN},
                tags=console,
            )
        },
        "/api/v1/events/ws": {
            "get": {
                "summary": "Live events for the console (websocket upgrade)",
                "description": 'Send {"type": "auth", "token": "<bearer token>"} first (no header, never the URL); '
                'then {"type": "ready"} and {"type": "event", "event", "conversation_id", "contact_id", "queue", '
                '"assignee", "status", "data"} frames arrive: all events for ops, for an agent those of conversations '
                'assigned to them or in a queue they serve. {"type": "resync"}: reload everything. '
                "A wrong token closes with 4401, no auth frame with 1008, shutdown with 1001.",
                "tags": console,
                "responses": {
                    "101": {"description": "switching protocols"},
                    "400": _error("not a websocket request"),
                    "503": {"description": "shutting down"},
                },
            }
        },
        "/console": {
            "get": {
                "summary": "The agent and ops console (HTML)",
                "tags": console,
                "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
            }
        },
        "/static/console.js": {
            "get": {
                "summary": "The console's script",
                "tags": console,
                "responses": {"200": {"description": "JavaScript"}, "304": {"description": "not modified"}},
            }
        },
        "/static/console.css": {
            "get": {
                "summary": "The console's style sheet",
                "tags": console,
                "responses": {"200": {"description": "CSS"}, "304": {"description": "not modified"}},
            }
        },
        "/api/v1/routing/rules": {
            "get": _op(
                "The routing rules in force (JSON; the bare file with Accept: application/yaml)",
                {
                    "200": {
                        "description": "OK",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/RulesInForce"}},
                            "application/yaml": {"schema": {"type": "string"}},
                        },
                    },
                    **FORBIDDEN,
                },
                tags=["routing"],
            ),
            "put": _op(
                "Validate a rules file, write it atomically and swap it in",
                {
                    "200": _json("RulesInForce", "in force (changed false when it already was)"),
                    "409": _error("no rules file is configured (routing.rules is null)"),
                    "412": _error("If-Match names another version than the one in force"),
                    "413": _error("body too large"),
                    "422": _json("InvalidRules", "invalid: every PATH:LINE problem; the rules in force stay"),
                    "500": _error("the file could not be written; the rules in force stay"),
                    **FORBIDDEN,
                },
                tags=["routing"],
                parameters=[{"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}}],
                requestBody={
                    "required": True,
                    "content": {"application/yaml": {"schema": {"type": "string"}}},
                },
            ),
        },
        "/api/v1/routing/simulate": {
            "post": _op(
                "Route one message (against the rules in force or a candidate file) and explain it",
                {
                    "200": _json("SimulatedDecision", "the decision, as `gateway rules simulate --json` prints it"),
                    "400": _error("malformed JSON"),
                    "422": _error("a field is invalid, or the candidate rules are (then with `errors`)"),
                    **FORBIDDEN,
                },
                tags=["routing"],
                requestBody=_body("SimulateRequest"),
            )
        },
        "/api/v1/reply-tracking": {
            "get": _op(
                "Conversations at risk of a missed reply",
                {"200": _free(), "400": _error("bad state"), **FORBIDDEN},
                tags=ops,
                parameters=[
                    {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["due_soon", "overdue"]}}
                ],
            )
        },
        "/webhooks/api": {
            "post": {
                "summary": "The generic API channel",
                "tags": ["webhooks"],
                "parameters": [
                    {
                        "name": "X-Gateway-Signature",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
                    }
                ],
                "requestBody": _body("ApiInbound"),
                "responses": {
                    "200": _json("IngestAnswer", "stored (or a redelivery: duplicate true)"),
                    **INVALID,
                    "401": _error("missing or wrong signature"),
                    "404": _error("the channel is not configured"),
                    "413": _error("body too large"),
                    **UNAVAILABLE,
                },
            }
        },
        "/webhooks/twilio/sms": {
            "post": _form_webhook(
                "Twilio SMS/MMS", ["MessageSid", "AccountSid", "From", "To", "Body", "NumMedia"], "X-Twilio-Signature"
            )
        },
        "/webhooks/twilio/status": {
            "post": _form_webhook(
                "Twilio delivery status", ["MessageSid", "MessageStatus", "ErrorCode"], "X-Twilio-Signature"
            )
        },
        "/webhooks/twilio/voice": {
            "post": _form_webhook("Twilio incoming call", ["CallSid", "From", "To", "CallStatus"], "X-Twilio-Signature")
        },
        "/webhooks/twilio/voice/menu": {
            "post": _form_webhook("Phone menu choice", ["CallSid", "Digits", "SpeechResult"], "X-Twilio-Signature")
        },
        "/webhooks/twilio/voice/recording": {
            "post": _form_webhook(
                "Voicemail recorded", ["CallSid", "RecordingUrl", "RecordingSid"], "X-Twilio-Signature"
            )
        },
        "/webhooks/twilio/voice/recording-status": {
            "post": _form_webhook(
                "Recording status", ["CallSid", "RecordingSid", "RecordingStatus"], "X-Twilio-Signature"
            )
        },
        "/webhooks/twilio/voice/transcription": {
            "post": _form_webhook(
                "Voicemail transcription",
                ["TranscriptionSid", "TranscriptionText", "RecordingSid"],
                "X-Twilio-Signature",
            )
        },
        "/webhooks/twilio/voice/status": {
            "post": _form_webhook("Call status", ["CallSid", "CallStatus"], "X-Twilio-Signature")
        },
        "/webhooks/whatsapp": _json_webhook("WhatsApp Cloud API", "X-Hub-Signature-256", verification=True),
        "/webhooks/messenger": _json_webhook("Messenger", "X-Hub-Signature-256", verification=True),
        "/webhooks/instagram": _json_webhook("Instagram", "X-Hub-Signature-256", verification=True),
        "/webhooks/telegram": _json_webhook("Telegram bot updates", "X-Telegram-Bot-Api-Secret-Token"),
        "/webhooks/wechat": {
            "get": {
                "summary": "WeChat server verification (echostr)",
                "tags": ["webhooks"],
                "parameters": [
                    {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                    for n in ("signature", "timestamp", "nonce", "echostr")
                ],
                "responses": {
                    "200": {"description": "echostr"},
                    "403": {"description": "bad signature"},
                    "404": _error("not configured"),
                },
            },
            "post": {
                "summary": "WeChat Official Account messages (XML)",
                "tags": ["webhooks"],
                "parameters": [
                    {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                    for n in ("signature", "timestamp", "nonce", "openid", "encrypt_type", "msg_signature")
                ],
                "requestBody": {"required": True, "content": {"text/xml": {"schema": {"type": "string"}}}},
                "responses": {
                    "200": {"description": "success"},
                    "400": {"description": "malformed XML, or an Encrypt that does not decrypt"},
                    "403": {"description": "bad signature or msg_signature, or encrypted for another AppID"},
                    "404": _error("not configured"),
                    "413": _error("body too large"),
                    "422": {"description": "a required field is missing"},
                    "501": {"description": "safe (encrypted) mode without channels.wechat.encoding_aes_key"},
                    **UNAVAILABLE,
                },
            },
        },
        "/webchat/ws": {
            "get": {
                "summary": "Web chat websocket (upgrade)",
                "tags": ["web chat"],
                "responses": {
                    "101": {"description": "switching protocols"},
                    "400": {"description": "not a websocket request"},
                    "403": {"description": "origin not allowed"},
                    "404": {"description": "web chat not configured"},
                    "429": {"description": "too many connections"},
                },
            }
        },
        "/chat": {
            "get": {
                "summary": "Demo page with the widget",
                "tags": ["web chat"],
                "responses": {"200": {"description": "HTML"}},
            }
        },
        "/static/widget.js": {
            "get": {
                "summary": "The embeddable widget",
                "tags": ["web chat"],
                "responses": {"200": {"description": "JavaScript"}},
            }
        },
    }
    return paths


@cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Omnichannel message routing gateway",
            "version": "1",
            "description": "Customer messages in from every channel; agents claim and answer them. "
            'Errors are {"error": {"code", "message"}}.',
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _components(),
        },
        "paths": _paths(),
    }


async def openapi_json(request: web.Request) -> web.Response:
    return ok(document())


routes = [web.get("/api/v1/openapi.json", openapi_json)]
