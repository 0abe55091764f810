"""The component schemas: those of the pydantic models the handlers use, so the document
cannot drift from the code, and those of the answers handlers build by hand."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gateway.channels.api import ApiInbound
from gateway.model import Contact, Conversation, Message, RoutingDecision
from gateway.web.conversation_api import ClaimBody, MergeBody, ReplyBody, TransferBody
from gateway.web.openapi import cases, reports, verification
from gateway.web.openapi.parts import REF
from gateway.web.routing_api import SimulateRequest


def components() -> dict[str, Any]:
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
        *cases.MODELS,
        *verification.MODELS,
        *reports.MODELS,
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
    schemas.update(verification.schemas())
    schemas["ConversationView"] = {
        "allOf": [
            {"$ref": "#/components/schemas/Conversation"},
            {
                "type": "object",
                "properties": {
                    "reply_tracking": {"type": "object"},
                    "verification": {"$ref": "#/components/schemas/Verification"},
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
            "next_cursor": {"type": ["string", "null"]},
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
        "properties": {
            "role": {"type": "string", "enum": ["ops", "agent"]},
            "agent": {"type": ["string", "null"]},
            "name": {"type": ["string", "null"], "description": "the agent's display name (auth.tokens[].name)"},
            "agent_names": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "every agent id with its display name",
            },
        },
    }
    schemas["KnowledgeArticles"] = {
        "type": "object",
        "required": ["articles"],
        "properties": {
            "articles": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "title", "body", "tags", "language", "source"],
                    "properties": {
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "body": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "language": {"type": ["string", "null"]},
                        "source": {"type": "string", "enum": ["knowledge", "faq"]},
                    },
                },
            }
        },
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
    schemas.update(cases.schemas())
    schemas["IngestAnswer"] = {
        "type": "object",
        "properties": {
            "conversation_id": {"type": "string"},
            "message_id": {"type": "string"},
            "duplicate": {"type": "boolean"},
        },
    }
    return schemas
