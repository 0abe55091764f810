"""Paths of the channels' webhooks: the generic API channel, Twilio (SMS, status, voice), Meta
(WhatsApp, Messenger, Instagram), Telegram and WeChat."""

from __future__ import annotations

from typing import Any

from gateway.web.openapi.parts import INVALID, UNAVAILABLE, body, error, json_of


def paths() -> dict[str, Any]:
    return {
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
                "requestBody": body("ApiInbound"),
                "responses": {
                    "200": json_of("IngestAnswer", "stored (or a redelivery: duplicate true)"),
                    **INVALID,
                    "401": error("missing or wrong signature"),
                    "404": error("the channel is not configured"),
                    "413": error("body too large"),
                    **UNAVAILABLE,
                },
            }
        },
        "/webhooks/twilio/sms": {
            "post": _twilio_webhook(
                "Twilio SMS/MMS", ["MessageSid", "AccountSid", "From", "To", "Body", "NumMedia"], "X-Twilio-Signature"
            )
        },
        "/webhooks/twilio/status": {
            "post": _twilio_webhook(
                "Twilio delivery status", ["MessageSid", "MessageStatus", "ErrorCode"], "X-Twilio-Signature"
            )
        },
        "/webhooks/twilio/voice": {
            "post": _twilio_webhook(
                "Twilio incoming call", ["CallSid", "From", "To", "CallStatus"], "X-Twilio-Signature"
            )
        },
        "/webhooks/twilio/voice/menu": {
            "post": _twilio_webhook("Phone menu choice", ["CallSid", "Digits", "SpeechResult"], "X-Twilio-Signature")
        },
        "/webhooks/twilio/voice/recording": {
            "post": _twilio_webhook(
                "Voicemail recorded", ["CallSid", "RecordingUrl", "RecordingSid"], "X-Twilio-Signature"
            )
        },
        "/webhooks/twilio/voice/recording-status": {
            "post": _twilio_webhook(
                "Recording status", ["CallSid", "RecordingSid", "RecordingStatus"], "X-Twilio-Signature"
            )
        },
        "/webhooks/twilio/voice/transcription": {
            "post": _twilio_webhook(
                "Voicemail transcription",
                ["TranscriptionSid", "TranscriptionText", "RecordingSid"],
                "X-Twilio-Signature",
            )
        },
        "/webhooks/twilio/voice/status": {
            "post": _twilio_webhook("Call status", ["CallSid", "CallStatus"], "X-Twilio-Signature")
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
                    "404": error("not configured"),
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
                    "404": error("not configured"),
                    "413": error("body too large"),
                    "422": {"description": "a required field is missing"},
                    "501": {"description": "safe (encrypted) mode without channels.wechat.encoding_aes_key"},
                    **UNAVAILABLE,
                },
            },
        },
    }


def _twilio_webhook(summary: str, fields: list[str], signature: str, *, xml: bool = True) -> dict[str, Any]:
    """A Twilio callback: a signed form post answered with TwiML."""
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
            "404": error("the channel is not configured"),
            "413": error("body too large"),
            "503": {
                "description": "storage down: Twilio retries",
                "content": {"text/xml": {"schema": {"type": "string"}}},
            },
        },
    }


def _json_webhook(summary: str, signature: str, *, verification: bool = False) -> dict[str, Any]:
    """A signed JSON webhook; ``verification``: with Meta's GET subscription handshake."""
    ops: dict[str, Any] = {
        "post": {
            "summary": summary,
            "tags": ["webhooks"],
            "parameters": [{"name": signature, "in": "header", "required": False, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "200": {"description": "stored"},
                **INVALID,
                "401": error("missing signature"),
                "403": error("wrong signature"),
                "404": error("the channel is not configured"),
                "413": error("body too large"),
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
                "404": error("the channel is not configured"),
            },
        }
    return ops
