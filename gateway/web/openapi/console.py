"""Paths of the agent and ops console: who is calling, the agent's own summary, the live
events websocket and the console's page, script and style sheet."""

from __future__ import annotations

from typing import Any

from gateway.web.openapi.parts import BAD_HEADER, FORBIDDEN, error, json_of, operation


def paths() -> dict[str, Any]:
    console = ["console"]
    return {
        "/api/v1/knowledge": {
            "get": operation(
                "Knowledge base articles (and FAQ entries) for canned replies, best matches first",
                {"200": json_of("KnowledgeArticles"), "400": error("q longer than 200 characters or a bad language")},
                tags=console,
                parameters=[
                    {
                        "name": "q",
                        "in": "query",
                        "description": "words that must all occur in an article's title, tags or body",
                        "schema": {"type": "string", "maxLength": 200},
                    },
                    {
                        "name": "language",
                        "in": "query",
                        "description": "articles in this language or in none in particular; FAQ answers cut to it",
                        "schema": {"type": "string", "pattern": "^$|^[a-z]{2}(-[A-Za-z]{2,4})?$"},  # empty: any
                    },
                ],
            )
        },
        "/api/v1/agents/me/presence": {
            "post": operation(
                "The calling agent's presence: online (while the console is open), away or offline",
                {
                    "200": {
                        "description": "the choice and the status everyone sees now",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["agent", "chosen", "status"],
                                    "properties": {
                                        "agent": {"type": "string"},
                                        "chosen": {"type": "string", "enum": ["online", "away", "offline"]},
                                        "status": {"type": "string", "enum": ["online", "away", "offline"]},
                                    },
                                }
                            }
                        },
                    },
                    "400": error("not JSON"),
                    "422": error("status is not online, away or offline"),
                    **FORBIDDEN,
                },
                tags=console,
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["status"],
                                "properties": {"status": {"type": "string", "enum": ["online", "away", "offline"]}},
                            }
                        }
                    },
                },
            )
        },
        "/api/v1/me": {
            "get": operation("The role (and agent name) of the calling token", {"200": json_of("Whoami")}, tags=console)
        },
        "/api/v1/agents/me": {
            "get": operation(
                "The calling agent: capacity, servable queues with depth, the conversations held",
                {"200": json_of("AgentSummary"), **FORBIDDEN},
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
                    "400": error("not a websocket request"),
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
        "/static/console/{name}": {
            "get": {
                "summary": "One of the console's script modules (main.js is the entry point)",
                "tags": console,
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}},
                ],
                "responses": {
                    "200": {"description": "JavaScript (an ES module)"},
                    "304": {"description": "not modified"},
                    "404": {"description": "no such module"},
                    **BAD_HEADER,
                },
            }
        },
        "/static/console.css": {
            "get": {
                "summary": "The console's style sheet",
                "tags": console,
                "responses": {"200": {"description": "CSS"}, "304": {"description": "not modified"}, **BAD_HEADER},
            }
        },
    }
