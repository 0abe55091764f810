"""Identity verification paths (docs/verification.md): sending a one-time code."""

from __future__ import annotations

from typing import Any

from gateway.web.openapi.parts import FORBIDDEN, ID, INVALID, body, error, json_of, operation
from gateway.web.verification_api import VerifyBody

MODELS = [VerifyBody]

STATE: dict[str, Any] = {
    "type": "object",
    "description": "The contact's identity verification as of now.",
    "required": ["state"],
    "properties": {
        "state": {"type": "string", "enum": ["none", "pending", "verified", "failed", "expired"]},
        "method": {"type": ["string", "null"], "enum": ["sms", "email", "jwt", None]},
        "verified_at": {"type": ["string", "null"], "format": "date-time"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "via": {"type": ["string", "null"]},
        "to": {"type": ["string", "null"], "description": "masked: +86 138****8000, w***g@example.cn"},
        "attempts_left": {"type": "integer", "minimum": 0},
        "reason": {"type": "string", "enum": ["max_attempts", "expired"]},
        "available": {"type": "boolean", "description": "false: verification is not configured"},
    },
}


def schemas() -> dict[str, Any]:
    return {
        "Verification": STATE,
        "VerifyAccepted": {
            "type": "object",
            "required": ["via", "to", "expires_at", "verification"],
            "properties": {
                "via": {"type": "string", "enum": ["sms", "email"]},
                "to": {"type": "string", "description": "where the code went, masked"},
                "expires_at": {"type": "string", "format": "date-time"},
                "verification": {"$ref": "#/components/schemas/Verification"},
            },
        },
    }


def paths() -> dict[str, Any]:
    return {
        "/api/v1/conversations/{id}/verify": {
            "post": operation(
                "Send the customer a one-time code by SMS or email (another channel than the conversation's "
                "where the contact has one); their answer on any channel verifies them",
                {
                    "202": json_of("VerifyAccepted", "the code is on its way"),
                    "404": error("no such conversation; verification_off: verification is not configured"),
                    "409": error("no_destination: the contact has no phone or email the gateway can send to"),
                    "429": error(
                        "resend_too_soon: a code went out less than resend_after ago; rate_limited: too many "
                        "codes for this contact or destination (Retry-After says when)"
                    ),
                    "501": error("the channel to send the code on is not configured to send"),
                    **FORBIDDEN,
                    **INVALID,
                },
                tags=["conversations"],
                parameters=ID,
                requestBody=body("VerifyBody", required=False),
            )
        }
    }


__all__ = ["MODELS", "paths", "schemas"]
