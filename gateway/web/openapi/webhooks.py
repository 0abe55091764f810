"""Paths of the channels' webhooks: the generic API channel, Twilio (SMS, status, voice), Meta
(WhatsApp, Messenger, Instagram), Telegram and WeChat.

Each signature or secret is a required parameter in the form its provider writes it; what
is missing answers 401, what does not verify 403. A body that is read but holds what the
channel cannot take (a missing field, a sender that is no phone number …) is a 422.
"""

from __future__ import annotations

from typing import Any

from gateway.web.openapi.parts import INVALID, UNAVAILABLE, body, error, json_of

TOO_LARGE = {"413": error("body too large (http.max_body_bytes)")}
UNSIGNED = {"401": error("unsigned: the signature is missing"), "403": error("bad_signature: it does not verify")}
HMAC_SIGNATURE = {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"}
TWIML = {"text/xml": {"schema": {"type": "string"}}}
TEXT = {"type": "string", "pattern": r"\S"}  # not blank: the handler strips what it reads
SID_64 = {"type": "string", "pattern": r"\S", "maxLength": 64}
WECHAT_PUSH = {
    "type": "object",
    "description": "a push: a message or an event (developers.weixin.qq.com), or in safe mode <Encrypt>",
    "xml": {"name": "xml"},
    "properties": {
        name: {"type": "string"}
        for name in ("ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "Encrypt")
    },
}


def _header(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": True, "schema": schema}


def _query(name: str, schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


def paths() -> dict[str, Any]:
    return {
        "/webhooks/api": {
            "post": {
                "summary": "The generic API channel",
                "tags": ["webhooks"],
                "parameters": [_header("X-Gateway-Signature", HMAC_SIGNATURE)],
                "requestBody": body("ApiInbound"),
                "responses": {
                    "200": json_of("IngestAnswer", "stored (or a redelivery: duplicate true)"),
                    **INVALID,
                    **UNSIGNED,
                    **TOO_LARGE,
                    **UNAVAILABLE,
                },
            }
        },
        "/webhooks/twilio/sms": {
            "post": _twilio(
                "Twilio SMS/MMS (and WhatsApp through Twilio)",
                ["MessageSid", "From", "To", "Body", "NumMedia", "AccountSid"],
                required={"MessageSid": SID_64, "From": TEXT},
            )
        },
        "/webhooks/twilio/status": {
            "post": _twilio(
                "Twilio delivery status",
                ["MessageSid", "MessageStatus", "ErrorCode", "ErrorMessage"],
                required={"MessageSid": TEXT},
            )
        },
        "/webhooks/twilio/voice": {
            "post": _twilio(
                "Twilio incoming call", ["CallSid", "From", "To", "CallStatus"], required={"CallSid": SID_64}
            )
        },
        "/webhooks/twilio/voice/menu": {"post": _twilio("Phone menu choice", ["CallSid", "Digits", "SpeechResult"])},
        "/webhooks/twilio/voice/recording": {
            "post": _twilio("Voicemail recorded", ["CallSid", "RecordingUrl", "RecordingSid", "RecordingDuration"])
        },
        "/webhooks/twilio/voice/recording-status": {
            "post": _twilio("Recording status", ["CallSid", "RecordingSid", "RecordingStatus", "RecordingUrl"])
        },
        "/webhooks/twilio/voice/transcription": {
            "post": _twilio(
                "Voicemail transcription",
                ["TranscriptionSid", "TranscriptionText", "TranscriptionStatus", "RecordingSid", "CallSid"],
            )
        },
        "/webhooks/twilio/voice/status": {"post": _twilio("Call status", ["CallSid", "CallStatus", "CallDuration"])},
        "/webhooks/whatsapp": _meta("WhatsApp Cloud API", "whatsapp_business_account"),
        "/webhooks/messenger": _meta("Messenger", "page"),
        "/webhooks/instagram": _meta("Instagram", "instagram"),
        "/webhooks/telegram": {
            "post": {
                "summary": "Telegram bot updates",
                "tags": ["webhooks"],
                "parameters": [
                    _header("X-Telegram-Bot-Api-Secret-Token", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,256}$"})
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "description": "an Update (core.telegram.org/bots/api#update)",
                                "required": ["update_id"],
                                "properties": {"update_id": {"type": "integer"}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": _counts("stored, or ignored with the kind of update"),
                    **INVALID,
                    **UNSIGNED,
                    **TOO_LARGE,
                    **UNAVAILABLE,
                },
            }
        },
        "/webhooks/wechat": _wechat(),
    }


def _counts(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def _twilio(summary: str, fields: list[str], *, required: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Twilio callback: a signed form post answered with TwiML; ``required``: the fields the
    handler cannot do without, with what it checks of them."""
    required = required or {}
    properties = {name: required.get(name, {"type": "string"}) for name in fields}
    twiml = {"content": TWIML}
    return {
        "summary": summary,
        "tags": ["webhooks"],
        "parameters": [_header("X-Twilio-Signature", {"type": "string", "pattern": "^[A-Za-z0-9+/]{27}=$"})],
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": list(required),
                        "properties": properties,
                    }
                }
            },
        },
        "responses": {
            "200": {"description": "taken (TwiML)", **twiml},
            "400": {"description": "a form that cannot be read (TwiML)", **twiml},
            "401": {"description": "unsigned: X-Twilio-Signature is missing (TwiML)", **twiml},
            "403": {"description": "bad_signature: it does not match this URL and body (TwiML)", **twiml},
            **TOO_LARGE,
            "422": {"description": "a required field is missing or unusable (TwiML)", **twiml},
            "503": {"description": "storage down: Twilio retries (TwiML)", **twiml},
        },
    }


def _meta(summary: str, object_name: str) -> dict[str, Any]:
    """A Meta webhook (signed JSON) and its GET subscription handshake."""
    return {
        "post": {
            "summary": summary,
            "tags": ["webhooks"],
            "parameters": [_header("X-Hub-Signature-256", HMAC_SIGNATURE)],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["object", "entry"],
                            "properties": {
                                "object": {"type": "string", "const": object_name},
                                "entry": {"type": "array", "description": "events; what is no event is skipped"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _counts("counts of what was stored, amended, applied and skipped"),
                "400": error("not JSON (or over the JSON limits)"),
                **UNSIGNED,
                **TOO_LARGE,
                "422": error(f"wrong_object: not object {object_name!r}; invalid: events that cannot be read"),
                **UNAVAILABLE,
            },
        },
        "get": {
            "summary": "Meta's subscription handshake",
            "tags": ["webhooks"],
            "parameters": [
                _query("hub.mode", {"type": "string", "enum": ["subscribe"]}),
                _query("hub.verify_token", {"type": "string", "minLength": 1}),
                _query("hub.challenge", {"type": "string", "minLength": 1}),
            ],
            "responses": {
                "200": {"description": "the challenge", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "400": error("hub.challenge is missing"),
                "401": error("hub.verify_token is missing"),
                "403": error("wrong verify token, or hub.mode is not subscribe"),
            },
        },
    }


def _wechat() -> dict[str, Any]:
    signed = [
        _query("signature", {"type": "string", "pattern": "^[0-9a-f]{40}$"}),
        _query("timestamp", {"type": "string"}),  # any text: the signature covers it
        _query("nonce", {"type": "string"}),
    ]
    text = {"content": {"text/plain": {"schema": {"type": "string"}}}}
    return {
        "get": {
            "summary": "WeChat server verification (echostr)",
            "tags": ["webhooks"],
            "parameters": [*signed, _query("echostr", {"type": "string", "minLength": 1})],
            "responses": {
                "200": {"description": "echostr", **text},
                "400": error("echostr is missing"),
                **UNSIGNED,
            },
        },
        "post": {
            "summary": "WeChat Official Account messages (XML)",
            "tags": ["webhooks"],
            "parameters": [
                *signed,
                _query("openid", {"type": "string"}, required=False),
                _query("encrypt_type", {"type": "string", "enum": ["raw", "aes"]}, required=False),
                _query("msg_signature", {"type": "string"}, required=False),
            ],
            "requestBody": {"required": True, "content": {"text/xml": {"schema": WECHAT_PUSH}}},
            "responses": {
                "200": {"description": "success", **text},
                "400": error("malformed or forbidden XML, or an Encrypt that does not decrypt"),
                "401": error("unsigned: signature (or msg_signature) is missing"),
                "403": error("bad_signature, or encrypted for another AppID"),
                **TOO_LARGE,
                "422": error("a required field is missing"),
                "501": error("safe (encrypted) mode without channels.wechat.encoding_aes_key"),
                **UNAVAILABLE,
            },
        },
    }
