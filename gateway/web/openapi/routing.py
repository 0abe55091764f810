"""Paths of the routing rules: the rules in force, replacing them, and simulating a decision."""

from __future__ import annotations

from typing import Any

from gateway.web.openapi.parts import BAD_HEADER, FORBIDDEN, body, error, json_of, operation


def paths() -> dict[str, Any]:
    return {
        "/api/v1/routing/rules": {
            "get": operation(
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
                    **BAD_HEADER,
                },
                tags=["routing"],
            ),
            "put": operation(
                "Validate a rules file, write it atomically and swap it in",
                {
                    "200": json_of("RulesInForce", "in force (changed false when it already was)"),
                    "409": error("no rules file is configured (routing.rules is null)"),
                    "412": error("If-Match names another version than the one in force"),
                    "413": error("body too large"),
                    "422": json_of("InvalidRules", "invalid: every PATH:LINE problem; the rules in force stay"),
                    "500": error("the file could not be written; the rules in force stay"),
                    **FORBIDDEN,
                    **BAD_HEADER,
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
            "post": operation(
                "Route one message (against the rules in force or a candidate file) and explain it",
                {
                    "200": json_of("SimulatedDecision", "the decision, as `gateway rules simulate --json` prints it"),
                    "400": error("malformed JSON"),
                    "422": error("a field is invalid, or the candidate rules are (then with `errors`)"),
                    **FORBIDDEN,
                },
                tags=["routing"],
                requestBody=body("SimulateRequest"),
            )
        },
    }
