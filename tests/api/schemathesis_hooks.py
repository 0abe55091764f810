"""Schemathesis hooks (``SCHEMATHESIS_HOOKS=tests.api.schemathesis_hooks``): sign the webhook
requests it generates, so that their bodies reach the handlers behind the signature checks.

Signing needs the exact bytes sent, so it happens on the prepared request, the last step
before the wire. A signature the generator wrote in the documented form (``sha256=`` and 64
hex digits, Twilio's 28 base64 characters, a Telegram secret token, WeChat's 40 hex digits)
is replaced by the correct one; a missing or malformed one — schemathesis's negative cases —
is sent as it is, and must be refused.

The secrets come from ``GATEWAY_FUZZ_SECRETS`` (JSON: the ``channels`` section of the
gateway under test), the public URL Twilio signs from ``GATEWAY_FUZZ_PUBLIC_URL``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from twilio.request_validator import RequestValidator

CHANNELS: dict[str, Any] = json.loads(os.environ.get("GATEWAY_FUZZ_SECRETS", "{}"))
PUBLIC_URL = os.environ.get("GATEWAY_FUZZ_PUBLIC_URL", "").rstrip("/")

HMAC_FORM = re.compile(r"sha256=[0-9a-f]{64}")
TWILIO_FORM = re.compile(r"[A-Za-z0-9+/]{27}=")
TELEGRAM_FORM = re.compile(r"[A-Za-z0-9_-]{1,256}")
WECHAT_FORM = re.compile(r"[0-9a-f]{40}")
META = {"whatsapp": "whatsapp", "messenger": "messenger", "instagram": "instagram"}


def _body(request: requests.PreparedRequest) -> bytes:
    body = request.body or b""
    return body.encode() if isinstance(body, str) else body


def _hmac_hex(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _replace(request: requests.PreparedRequest, header: str, form: re.Pattern[str], value: str) -> None:
    given = request.headers.get(header)
    if given is not None and form.fullmatch(given):
        request.headers[header] = value


def _twilio(request: requests.PreparedRequest, path: str) -> None:
    given = request.headers.get("X-Twilio-Signature")
    if given is None or not TWILIO_FORM.fullmatch(given):
        return
    split = urlsplit(request.url or "")
    url = PUBLIC_URL + path + (f"?{split.query}" if split.query else "")
    params: dict[str, str] = {}
    if (request.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
        for key, value in parse_qsl(_body(request).decode("utf-8", "replace"), keep_blank_values=True):
            params.setdefault(key, value)
    validator = RequestValidator(CHANNELS["twilio"]["auth_token"])
    request.headers["X-Twilio-Signature"] = validator.compute_signature(url, params)


def _wechat(request: requests.PreparedRequest) -> None:
    split = urlsplit(request.url or "")
    query = parse_qsl(split.query, keep_blank_values=True)
    values = dict(query)
    if not WECHAT_FORM.fullmatch(values.get("signature", "")):
        return
    parts = sorted([CHANNELS["wechat"]["token"], values.get("timestamp", ""), values.get("nonce", "")])
    signature = hashlib.sha1("".join(parts).encode()).hexdigest()
    query = [(k, signature if k == "signature" else v) for k, v in query]
    request.url = urlunsplit(split._replace(query=urlencode(query)))


def sign(request: requests.PreparedRequest) -> None:
    path = urlsplit(request.url or "").path
    if not path.startswith("/webhooks/"):
        return
    channel = path.split("/")[2]
    if channel == "api" and "api" in CHANNELS:
        _replace(request, "X-Gateway-Signature", HMAC_FORM, _hmac_hex(CHANNELS["api"]["secret"], _body(request)))
    elif channel in META and channel in CHANNELS:
        secret = CHANNELS[channel]["app_secret"]
        _replace(request, "X-Hub-Signature-256", HMAC_FORM, _hmac_hex(secret, _body(request)))
    elif channel == "telegram" and "telegram" in CHANNELS:
        secret = CHANNELS["telegram"]["secret_token"]
        _replace(request, "X-Telegram-Bot-Api-Secret-Token", TELEGRAM_FORM, secret)
    elif channel == "twilio" and "twilio" in CHANNELS:
        _twilio(request, path)
    elif channel == "wechat" and "wechat" in CHANNELS:
        _wechat(request)


_send = requests.Session.send


def _signed_send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
    sign(request)
    return _send(self, request, **kwargs)


requests.Session.send = _signed_send  # type: ignore[method-assign]
