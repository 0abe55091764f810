"""WeChat Official Account pushes (XML) → one ``InboundMessage``, or ``None`` for pushes a
support desk does not keep. Pure: no I/O.

Parsed with ``defusedxml`` and any DTD refused: no entity expansion (billion laughs), no
external entities; such a body is a 400 like any other malformed XML.

* ``text`` → text; ``image`` → an attachment with ``PicUrl`` and ``MediaId``; ``voice``
  → an attachment (``audio/<Format>``) with WeChat's speech ``Recognition`` as the text
  when present; ``video``/``shortvideo`` → an attachment; ``location`` → text + meta;
  ``link`` → title, URL and description as text.
* Events have no ``MsgId``: the dedupe key is ``FromUserName`` + ``CreateTime`` (+ the
  event name, so a follow and a scan in the same second stay two). ``subscribe``,
  ``SCAN`` and menu ``CLICK`` are kept unrouted (flag ``event``): they open WeChat's
  reply window, which the conversation must know. ``unsubscribe``, periodic
  ``LOCATION`` reports and ``VIEW`` (menu link opened) are acknowledged and dropped — an
  unfollow must not look like an open window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from gateway.channels.base import RequestRejected
from gateway.channels.fields import MAX_EXTERNAL_ID, location_text
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Attachment, Channel, IdentityKind, InboundMessage

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
    return {child.tag: (child.text or "") for child in root}


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise RequestRejected(422, "invalid", f"{name}: missing")
    return value


def parse(fields: dict[str, str]) -> InboundMessage | None:
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

    text = ""
    attachments: list[Attachment] = []
    meta: dict[str, Any] = {"type": msg_type}
    flags: list[str] = []
    route = True
    if msg_type == "event":
        event = fields.get("Event", "").strip()
        if event.lower() not in KEPT_EVENTS:
            return None
        external_id = f"event:{sender_id}:{created}:{event}"
        text = ""
        meta["event"] = event
        if fields.get("EventKey"):
            meta["event_key"] = fields["EventKey"]
        flags.append("event")
        route = False
    else:
        external_id = _required(fields, "MsgId")
        if msg_type == "text":
            text = fields.get("Content", "")
        elif msg_type == "image":
            attachments.append(
                Attachment(
                    url=fields.get("PicUrl") or None, media_id=fields.get("MediaId") or None, content_type="image/jpeg"
                )
            )
        elif msg_type == "voice":
            fmt = (fields.get("Format") or "amr").lower()
            attachments.append(Attachment(media_id=fields.get("MediaId") or None, content_type=f"audio/{fmt}"))
            recognition = fields.get("Recognition", "").strip()
            if recognition:
                text = recognition
                meta["recognition"] = recognition
        elif msg_type in ("video", "shortvideo"):
            attachments.append(Attachment(media_id=fields.get("MediaId") or None, content_type="video/mp4"))
            if fields.get("ThumbMediaId"):
                meta["thumb_media_id"] = fields["ThumbMediaId"]
        elif msg_type == "location":
            lat, lon = fields.get("Location_X", ""), fields.get("Location_Y", "")
            label = fields.get("Label", "")
            text = location_text(lat, lon, name=label)
            meta["location"] = {"latitude": lat, "longitude": lon, "scale": fields.get("Scale", ""), "label": label}
        elif msg_type == "link":
            parts = [fields.get("Title", ""), fields.get("Url", ""), fields.get("Description", "")]
            text = "\n".join(p for p in parts if p)
            meta["link"] = {"title": parts[0], "url": parts[1], "description": parts[2]}
        else:
            flags.append("unsupported")
    if len(external_id) > MAX_EXTERNAL_ID:
        raise RequestRejected(422, "invalid", f"MsgId / event key longer than {MAX_EXTERNAL_ID} characters")
    return InboundMessage(
        channel=Channel.WECHAT,
        external_id=external_id,
        endpoint=account,
        sender=sender,
        text=text,
        attachments=attachments,
        provider_ts=provider_ts,
        flags=flags,
        route=route,
        meta=meta,
    )
