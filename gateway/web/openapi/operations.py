"""Paths of running the gateway: health, metrics, this document, queues, stats, reply tracking."""

from __future__ import annotations

from typing import Any

from gateway.web.openapi.parts import FORBIDDEN, any_object, error, operation


def paths() -> dict[str, Any]:
    ops = ["operations"]
    return {
        "/healthz": {"get": operation("Liveness", {"200": any_object()}, tags=ops, auth=False)},
        "/readyz": {
            "get": operation(
                "Readiness: storage and broker answer",
                {"200": any_object(), "503": any_object("not ready")},
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
        "/api/v1/openapi.json": {"get": operation("This document", {"200": any_object()}, tags=ops, auth=False)},
        "/api/v1/queues": {"get": operation("Queue health", {"200": any_object(), **FORBIDDEN}, tags=ops)},
        "/api/v1/stats": {
            "get": operation(
                "Ratings, self-service deflection and reply-tracking figures (all processes)",
                {"200": any_object(), **FORBIDDEN},
                tags=ops,
            )
        },
        "/api/v1/reply-tracking": {
            "get": operation(
                "Conversations at risk of a missed reply",
                {"200": any_object(), "400": error("bad state"), **FORBIDDEN},
                tags=ops,
                parameters=[
                    {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["due_soon", "overdue"]}}
                ],
            )
        },
    }
