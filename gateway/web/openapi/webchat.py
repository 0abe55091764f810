"""Paths of the web chat: the visitors' websocket, the demo page and the embeddable widget."""

from __future__ import annotations

from typing import Any

from gateway.web.openapi.parts import BAD_HEADER


def paths() -> dict[str, Any]:
    return {
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
                "responses": {"200": {"description": "HTML"}, **BAD_HEADER},
            }
        },
        "/webchat/availability": {
            "get": {
                "summary": "What the widget's header says: online, or the office hours and the reply promise",
                "description": (
                    "Public. `online` is true only while an agent who serves the queue is online (their "
                    "console open); the texts are in the language asked for."
                ),
                "tags": ["web chat"],
                "parameters": [
                    {
                        "name": "lang",
                        "in": "query",
                        "description": "zh (any zh-…) or en; anything else: the browser's language, else English",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "queue",
                        "in": "query",
                        "description": "the widget's data-queue; default: where a web chat message goes now",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "availability",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "online": {"type": "boolean"},
                                        "office_hours": {"type": ["string", "null"]},
                                        "reply_promise": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "404": {"description": "web chat not configured"},
                },
            },
            "post": {
                "summary": "The same, for the queue of the visitor's own open conversation",
                "description": "The body is the visitor's token as text/plain (no preflight, no token in a URL).",
                "tags": ["web chat"],
                "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}},
                "responses": {
                    "200": {"description": "availability"},
                    "404": {"description": "web chat not configured"},
                },
            },
        },
        "/static/widget.js": {
            "get": {
                "summary": "The embeddable widget",
                "tags": ["web chat"],
                "responses": {
                    "200": {"description": "JavaScript"},
                    "304": {"description": "not modified"},
                    **BAD_HEADER,
                },
            }
        },
    }
