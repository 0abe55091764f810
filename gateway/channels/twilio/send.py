"""Agent replies as SMS/MMS through Twilio's REST API, over aiohttp.

The ``twilio`` client is synchronous (it would block the event loop), so the one call
we need — create a Message — is made here directly: form-encoded, HTTP basic auth with
the account SID and auth token.

WhatsApp conversations through Twilio go to ``whatsapp:+…`` from the WhatsApp sender the
customer wrote to; after the 24-hour window only a template goes, as Twilio's Content
API sends it (``ContentSid`` and ``ContentVariables``).

Long replies are refused, not split: Twilio takes at most 1600 characters (error 21617)
and has no idempotency key, so a reply split into several messages could be partly
sent twice by a retry. The agent gets a clear ``failed`` with the reason instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from gateway.channels.base import send_http
from gateway.channels.twilio.sms_parse import error_text
from gateway.model import Channel, IdentityKind, OutboundRequest, SendResult

MAX_BODY_CHARS = 1600
MAX_MEDIA = 10
WHATSAPP = "whatsapp:"
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")


class Unsendable(Exception):
    """A reply Twilio would refuse for sure; no point in trying (or retrying) it."""


def twilio_length(text: str) -> int:
    """Characters as Twilio counts them (UTF-16 code units: an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Sender:
    """Where replies come from: a Messaging Service (Twilio picks the number), a fixed
    number, or else the number the customer wrote to or called (the conversation's endpoint)."""

    messaging_service_sid: str | None = None
    from_number: str | None = None

    def fields(self, endpoint: str) -> list[tuple[str, str]]:
        if endpoint.startswith(WHATSAPP):
            # The WhatsApp sender the customer wrote to: replies must come from it.
            return [("From", endpoint)]
        if self.messaging_service_sid:
            return [("MessagingServiceSid", self.messaging_service_sid)]
        number = self.from_number or endpoint
        if not number:
            raise Unsendable("no sender: set channels.twilio.from_number or messaging_service_sid")
        return [("From", number)]


def message_form(request: OutboundRequest, *, sender: Sender, status_callback: str) -> list[tuple[str, str]]:
    """The form of ``POST …/Messages.json`` for one reply, or ``Unsendable``."""
    if request.recipient.kind is not IdentityKind.PHONE:
        raise Unsendable(f"Twilio sends to phone numbers; this customer's address is {request.recipient.kind.value}")
    message = request.message
    whatsapp = request.conversation.channel is Channel.WHATSAPP
    to = (WHATSAPP if whatsapp else "") + request.recipient.value
    if message.template is not None:
        if not whatsapp:
            raise Unsendable("the SMS channel has no templates")
        form = [("To", to), *sender.fields(request.conversation.endpoint), *content_template(message.template)]
        return [*form, ("StatusCallback", status_callback)]
    text = message.text or ""
    if twilio_length(text) > MAX_BODY_CHARS:
        raise Unsendable(
            f"the reply is {twilio_length(text)} characters; an SMS may have at most {MAX_BODY_CHARS} "
            f"(Twilio error 21617). Shorten it or send it as several replies"
        )
    without_url = [a.name or a.media_id or a.content_type for a in message.attachments if not a.url]
    if without_url:
        raise Unsendable(f"MMS attachments need a public URL; these have none: {', '.join(map(str, without_url))}")
    if len(message.attachments) > MAX_MEDIA:
        raise Unsendable(f"an MMS carries at most {MAX_MEDIA} media; this reply has {len(message.attachments)}")
    if not text.strip() and not message.attachments:
        raise Unsendable("an SMS needs text or media")
    form = [("To", to), *sender.fields(request.conversation.endpoint)]
    if text:
        form.append(("Body", text))
    form.extend(("MediaUrl", a.url) for a in message.attachments if a.url)
    form.append(("StatusCallback", status_callback))
    return form


def content_template(template: dict[str, Any]) -> list[tuple[str, str]]:
    """A WhatsApp template as Twilio sends it: ``name`` is the SID of an approved Content
    template (``HX…``), ``params`` its variables in order (``{{1}}``, ``{{2}}`` …)."""
    content_sid = str(template.get("name") or "")
    if not CONTENT_SID.match(content_sid):
        raise Unsendable(
            'a WhatsApp template through Twilio is named by its Content template SID: {"name": "HX…", "params": ["…"]}'
        )
    fields = [("ContentSid", content_sid)]
    params = template.get("params") or []
    if params:
        variables = {str(n): str(value) for n, value in enumerate(params, 1)}
        fields.append(("ContentVariables", json.dumps(variables, ensure_ascii=False)))
    return fields


def describe_failure(status: int, body: Any, fallback: str) -> str:
    """Twilio's error JSON (``code``, ``message``) as an agent-readable reason."""
    if isinstance(body, dict) and body.get("code"):
        return f"{error_text(str(body['code']), str(body.get('message') or ''))} (HTTP {status})"
    return fallback


class TwilioSender:
    """Creates Messages for replies on SMS and voice conversations (a voicemail is
    answered by SMS to the caller)."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base_url: str,
        public_url: str,
        sender: Sender,
        timeout: float = 15.0,
    ) -> None:
        self._authorization = aiohttp.encode_basic_auth(account_sid, auth_token)
        self._url = f"{api_base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"
        self._status_callback = public_url.rstrip("/") + "/webhooks/twilio/status"
        self._sender = sender
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"TwilioSender(url={self._url!r})"

    def status_callback(self, channel: Channel) -> str:
        # The status callback must name the conversation's channel: replies on a voice
        # conversation are recorded under "voice". The query is covered by the signature.
        if channel is Channel.SMS:
            return self._status_callback
        return f"{self._status_callback}?{urlencode({'channel': channel.value})}"

    async def send(self, http: aiohttp.ClientSession, request: OutboundRequest) -> SendResult:
        try:
            form = message_form(
                request, sender=self._sender, status_callback=self.status_callback(request.conversation.channel)
            )
        except Unsendable as exc:
            return SendResult(ok=False, retryable=False, error=str(exc))
        status, body, failure = await send_http(
            http,
            "POST",
            self._url,
            timeout=self._timeout,
            data=urlencode(form).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "Authorization": self._authorization,
            },
        )
        if failure is not None:
            return failure.model_copy(update={"error": describe_failure(status, body, failure.error or "")})
        sid = body.get("sid") if isinstance(body, dict) else None
        if not sid:
            # It may have gone out: never retry into a possible duplicate.
            return SendResult(ok=False, retryable=False, error=f"Twilio answered HTTP {status} without a message sid")
        return SendResult(ok=True, external_id=str(sid), meta={"twilio_status": body.get("status")})
