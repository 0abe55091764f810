"""Paths of the web chat: the visitors' websocket, the demo page and the embeddable widget."""

from __future__ import annotations

from typing import Any


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
