"""Verifying one Twilio webhook: the raw body, its ``X-Twilio-Signature``, then its fields.

Twilio signs the URL it was told to call (so we rebuild it from ``http.public_url`` and
the request's raw path and query, never from our own host) followed by every POST
parameter. Verification uses the ``twilio`` package's ``RequestValidator``: it knows the
parameter ordering, tries the URL with the default port added and removed (Twilio is
inconsistent about it), and checks ``bodySHA256`` for JSON bodies. Its comparison is
constant-time. 401 without a signature, 403 with one that does not verify.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from gateway.channels.signatures import bad_signature, signature_present
from gateway.errors import RequestRejected, header_text, parse_json_body

MAX_FIELDS = 1000
Fields = MultiDict[str] | MultiDictProxy[str]


def parse_form(body: bytes) -> MultiDict[str]:
    """``application/x-www-form-urlencoded`` into fields, blanks kept (Twilio signs them)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise RequestRejected(400, "malformed_form", "the body is not UTF-8 form data") from None
    except ValueError as exc:
        raise RequestRejected(400, "malformed_form", f"the form cannot be read: {exc}") from None
    return MultiDict(pairs)


def fields_from_json(text: str) -> MultiDict[str]:
    """A flat JSON object as fields; nested values are kept as JSON text."""
    data = parse_json_body(text)
    if not isinstance(data, dict):
        raise RequestRejected(422, "invalid", "the JSON body must be an object")
    fields: MultiDict[str] = MultiDict()
    for key, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            fields.add(str(key), item if isinstance(item, str) else json.dumps(item, ensure_ascii=False))
    return fields


class TwilioSignature:
    """Checks ``X-Twilio-Signature`` of requests to our public URL."""

    def __init__(self, *, auth_token: str, public_url: str, signing_key: str | None = None) -> None:
        self._validator = RequestValidator(auth_token)
        self._shared_key = RequestValidator(signing_key) if signing_key else None
        self.public_url = public_url.rstrip("/")

    def __repr__(self) -> str:
        return f"TwilioSignature(public_url={self.public_url!r})"

    def url_of(self, request: web.Request) -> str:
        """The URL Twilio signed: the public base plus the path and query exactly as sent."""
        return self.public_url + request.raw_path

    def _validator_for(self, settings: str | None) -> RequestValidator:
        # A webhook SharedKey (public beta) announces itself in the settings header.
        if settings and "key=" in settings and self._shared_key is not None:
            return self._shared_key
        return self._validator

    async def verify_request(self, request: web.Request) -> MultiDict[str]:
        """The verified fields of the request, or ``RequestRejected`` (400 / 401 / 403)."""
        body = await request.read()
        signature = signature_present(header_text(request.headers, SIGNATURE_HEADER), what=SIGNATURE_HEADER)
        settings = header_text(request.headers, SIGNATURE_SETTINGS_HEADER)
        algorithm = get_signature_algorithm(settings)
        url = self.url_of(request)
        validator = self._validator_for(settings)
        if request.content_type == "application/json":
            # JSON bodies: Twilio signs the URL alone and vouches for the body with
            # bodySHA256 in the query. Without it, anyone holding one signed URL could
            # attach any body, so it is required.
            if "bodySHA256" not in request.query:
                raise bad_signature("a JSON webhook must carry bodySHA256 in its URL")
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise RequestRejected(400, "malformed_json", "the body is not UTF-8") from None
            if not validator.validate(url, text, signature, algorithm):
                raise bad_signature(f"{SIGNATURE_HEADER} does not match")
            return fields_from_json(text)
        fields = parse_form(body)
        if not validator.validate(url, fields, signature, algorithm):
            raise bad_signature(f"{SIGNATURE_HEADER} does not match this URL and body")
        return fields
