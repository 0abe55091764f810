"""WeChat Official Account pushes (XML) → one ``InboundMessage``, or the kind of push a
support desk does not keep. Pure: no I/O.

Parsed with ``defusedxml`` and any DTD refused: no entity expansion (billion laughs), no
external entities; such a body is a 400 like any other malformed XML. Nested elements
(``ScanCodeInfo``) are read as ``ScanCodeInfo.ScanResult``.

Messages: see ``kinds``. Events have no ``MsgId``: the dedupe key is ``FromUserName`` +
``CreateTime`` (+ the event name, so a follow and a scan in the same second stay two).
``subscribe``, ``SCAN``, menu ``CLICK`` and the scan-code menu events are kept unrouted
(flag ``event``) with a line saying what happened: they open WeChat's reply window,
which the conversation must know. The rest — ``unsubscribe``, periodic ``LOCATION``
reports, ``VIEW`` (a menu link opened), the photo and location pickers (their photos and
places arrive as messages of their own), job reports, customer-service session notices,
and events not known here — are counted by name (``gateway_inbound_ignored_total``): an
unfollow must not look like an open window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from gateway.channels.fields import MAX_EXTERNAL_ID, Content
from gateway.channels.wechat.kinds import read_message
from gateway.errors import RequestRejected
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Channel, IdentityKind, InboundMessage

KEPT_EVENTS = frozenset({"subscribe", "scan", "click", "scancode_push", "scancode_waitmsg"})


def read_xml(body: bytes) -> dict[str, str]:
    """The flat ``<xml>`` of a push as a dict of child element texts; 400 when unreadable."""
    try:
        root: Element = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise RequestRejected(
            400, "forbidden_xml", f"XML with a DTD or entities is refused ({type(exc).__name__})"
        ) from None
    except (ParseError, ValueError) as exc:
        raise RequestRejected(400, "malformed_xml", f"body is not well-formed XML: {exc}") from None
    fields: dict[str, str] = {}
    _flatten(root, "", fields)
    return fields


def _flatten(element: Element, prefix: str, fields: dict[str, str]) -> None:
    """Child texts by tag; nested ones as ``Parent.Child`` (the first of each)."""
    for child in element:
        key = prefix + child.tag
        if len(child):
            _flatten(child, key + ".", fields)
        else:
            fields.setdefault(key, child.text or "")


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise RequestRejected(422, "invalid", f"{name}: missing")
    return value


def parse_push(fields: dict[str, str]) -> InboundMessage | str:
    """A push's fields → one message, or the kind of push a support desk does not keep."""
    sender_id = _required(fields, "FromUserName")
    account = _required(fields, "ToUserName")
    created = _required(fields, "CreateTime")
    msg_type = _required(fields, "MsgType").lower()
    try:
        sender = make_identity(IdentityKind.WECHAT, sender_id)
        provider_ts = datetime.fromtimestamp(int(created), UTC)
    except InvalidIdentity as exc:
        raise RequestRejected(422, "invalid", f"FromUserName: {exc}") from None
    except (ValueError, OverflowError, OSError):
        raise RequestRejected(422, "invalid", "CreateTime: must be Unix seconds") from None
    if msg_type == "event":
        content = _event(fields)
        if isinstance(content, str):
            return content
        # Events have no MsgId: the key is the sender, the time and the event name.
        external_id = f"event:{sender_id}:{created}:{content.meta['event']}"
    else:
        content = read_message(fields, msg_type)
        external_id = _required(fields, "MsgId")
    if len(external_id) > MAX_EXTERNAL_ID:
        raise RequestRejected(422, "invalid", f"MsgId / event key longer than {MAX_EXTERNAL_ID} characters")
    return InboundMessage(
        channel=Channel.WECHAT,
        external_id=external_id,
        endpoint=account,
        sender=sender,
        text=content.text,
        attachments=content.attachments,
        provider_ts=provider_ts,
        flags=content.flags,
        route=content.route,
        meta={"type": msg_type, **content.meta},
    )


def _event(fields: dict[str, str]) -> Content | str:
    """The events that open WeChat's reply window, kept unrouted with a line saying what
    happened; the name of any other event (counted, not kept)."""
    event = fields.get("Event", "").strip()
    name = event.lower()
    key = fields.get("EventKey", "")
    if name not in KEPT_EVENTS:
        return f"event_{name or 'unnamed'}"
    if name == "subscribe":
        scene = key.removeprefix("qrscene_")
        text = "[followed the account" + (f" by scanning QR code {scene}]" if scene else "]")
    elif name == "scan":
        text = f"[scanned QR code {key}]"
    elif name == "click":
        text = f"[menu: {key}]"
    else:
        text = f"[scanned from the menu: {fields.get('ScanCodeInfo.ScanResult', '') or key}]"
    content = Content(text=text, flags=["event"], route=False)
    content.meta["event"] = event
    if key:
        content.meta["event_key"] = key
    return content
