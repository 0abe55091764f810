"""Twilio's messaging webhooks as domain types: an inbound SMS/MMS, a delivery report.

Pure functions over the verified form fields. Twilio adds fields without notice, so
anything not read here is simply ignored.
"""

from __future__ import annotations

from gateway.channels.kinds import attachment_lines
from gateway.channels.twilio.verify import Fields
from gateway.channels.twilio.whatsapp_parse import PREFIX, whatsapp_content
from gateway.errors import RequestRejected
from gateway.identity import InvalidIdentity, make_identity, normalize_phone
from gateway.model import Attachment, Channel, DeliveryStatus, Identity, IdentityKind, InboundMessage, StatusUpdate

MAX_MEDIA = 20  # Twilio delivers at most 10 per MMS; anything beyond 20 is not Twilio
LOCATION_FIELDS = ("FromCountry", "FromState", "FromCity", "FromZip")
# Twilio's Advanced Opt-Out names the keyword it acted on. After STOP Twilio refuses our
# replies (error 21610), so STOP and START are kept but offer an agent no work; HELP is
# a customer asking for help and is routed as usual.
OPT_OUT_FLAGS = {"STOP": "sms_opt_out", "START": "sms_opt_in", "HELP": "sms_help"}
UNROUTED_OPT_OUT = {"STOP", "START"}

# Twilio's MessageStatus values we keep; the rest (accepted, scheduled, receiving,
# received, partially_delivered, …) say nothing about our outbound delivery.
STATUS_MAP: dict[str, DeliveryStatus] = {
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.SENDING,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}

# The codes agents meet most; the rest are looked up at twilio.com/docs/api/errors/<code>.
ERROR_CODES: dict[str, str] = {
    "21211": "invalid 'To' phone number",
    "21408": "sending to this region is not enabled",
    "21610": "the recipient replied STOP and is unsubscribed",
    "21612": "this number cannot be reached from the sending number",
    "21614": "'To' is not a mobile number",
    "21617": "the message body exceeds 1600 characters",
    "30003": "unreachable destination handset",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier as spam",
    "30008": "unknown error",
    "63016": "outside the WhatsApp 24-hour window; use a template",
}


def first(fields: Fields, *names: str) -> str:
    """The first non-empty value among ``names`` (Twilio still sends legacy Sms* twins)."""
    for name in names:
        value = fields.get(name)
        if value:
            return value.strip()
    return ""


def phone_identity(raw: str, *, field: str, default_region: str | None, whatsapp: bool = False) -> Identity:
    if not raw:
        raise RequestRejected(422, "invalid", f"{field}: missing")
    if ":" in raw and not raw.lower().startswith("tel:") and not (whatsapp and raw.lower().startswith(PREFIX)):
        # messenger:…, rcs:… — other channels routed through Twilio that have no channel here.
        raise RequestRejected(
            422, "invalid", f"{field}: {raw.split(':', 1)[0]} senders are not handled on the Twilio SMS/voice paths"
        )
    try:
        return make_identity(IdentityKind.PHONE, raw, default_region=default_region)
    except InvalidIdentity as exc:
        raise RequestRejected(422, "invalid", f"{field}: {exc}") from None


def our_number(raw: str, default_region: str | None) -> str:
    """The endpoint: our number in E.164, or as sent when it is not one (a short code)."""
    try:
        return normalize_phone(raw, default_region) if raw else ""
    except InvalidIdentity:
        return raw


def media(fields: Fields) -> list[Attachment]:
    """``MediaUrl{N}`` / ``MediaContentType{N}`` for N < NumMedia. A missing or bad
    NumMedia does not lose media: every numbered URL present is taken."""
    try:
        declared = max(0, min(int(fields.get("NumMedia", "0")), MAX_MEDIA))
    except ValueError:
        declared = 0
    attachments = []
    for n in range(MAX_MEDIA):
        url = (fields.get(f"MediaUrl{n}") or "").strip()
        if not url:
            if n >= declared:
                break
            continue
        content_type = (fields.get(f"MediaContentType{n}") or "").strip() or "application/octet-stream"
        attachments.append(Attachment(url=url, content_type=content_type, media_id=url.rsplit("/", 1)[-1] or None))
    return attachments


def parse_sms(fields: Fields, *, default_region: str | None = None) -> InboundMessage:
    """An inbound SMS/MMS webhook → ``InboundMessage`` (dedupe key: ``MessageSid``); a
    ``whatsapp:`` sender is a WhatsApp message (see ``whatsapp_parse``)."""
    sid = first(fields, "MessageSid", "SmsMessageSid", "SmsSid")
    if not sid:
        raise RequestRejected(422, "invalid", "MessageSid: missing")
    if len(sid) > 64:
        raise RequestRejected(422, "invalid", "MessageSid: too long")
    raw_from = first(fields, "From")
    whatsapp = raw_from.lower().startswith(PREFIX)
    # A WhatsApp number is E.164 as Twilio writes it: never read with a default region.
    region = None if whatsapp else default_region
    sender = phone_identity(raw_from, field="From", default_region=region, whatsapp=whatsapp)
    attachments = media(fields)
    body = fields.get("Body") or ""
    if whatsapp:
        text, details = whatsapp_content(fields, body, attachments)
        return InboundMessage(
            channel=Channel.WHATSAPP,
            external_id=sid,
            endpoint=PREFIX + our_number(first(fields, "To"), None).removeprefix(PREFIX),
            sender=sender,
            sender_name=first(fields, "ProfileName") or None,
            text=text,
            attachments=attachments,
            meta={"message_sid": sid, "via": "twilio", **details},
        )
    meta = {
        "message_sid": sid,
        **{
            key: value
            for key, value in (
                ("messaging_service_sid", first(fields, "MessagingServiceSid")),
                ("num_segments", first(fields, "NumSegments")),
                *((name, first(fields, name)) for name in LOCATION_FIELDS),
            )
            if value
        },
    }
    opt_out = first(fields, "OptOutType").upper()
    return InboundMessage(
        channel=Channel.SMS,
        external_id=sid,
        endpoint=our_number(first(fields, "To"), default_region),
        sender=sender,
        # An MMS of a photo alone reads "[photo]": never an empty message with content.
        text=body if body.strip() else attachment_lines(attachments),
        attachments=attachments,
        flags=[OPT_OUT_FLAGS[opt_out]] if opt_out in OPT_OUT_FLAGS else [],
        route=opt_out not in UNROUTED_OPT_OUT,
        meta=meta,
    )


def error_text(code: str, message: str = "") -> str:
    """``Twilio error 30003: unreachable destination handset`` — what an agent reads."""
    detail = message or ERROR_CODES.get(code, "")
    return f"Twilio error {code}: {detail}" if detail else f"Twilio error {code}"


def parse_status(fields: Fields, *, channel: Channel = Channel.SMS) -> StatusUpdate | None:
    """A status callback → ``StatusUpdate``; None for statuses that say nothing to us."""
    sid = first(fields, "MessageSid", "SmsSid")
    if not sid:
        raise RequestRejected(422, "invalid", "MessageSid: missing")
    raw = first(fields, "MessageStatus", "SmsStatus").lower()
    status = STATUS_MAP.get(raw)
    if status is None:
        return None
    code = first(fields, "ErrorCode")
    error = None
    if code and code != "0":
        error = error_text(code, first(fields, "ErrorMessage"))
    elif raw == "canceled":
        error = "canceled before it was sent"
    return StatusUpdate(channel=channel, external_id=sid, status=status, error=error)
