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

from collections.abc import Callable
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from gateway.channels.fields import MAX_EXTERNAL_ID, Content, location_text
from gateway.errors import RequestRejected
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


def parse_push(fields: dict[str, str]) -> InboundMessage | None:
    """A push's fields → one message, or ``None`` for pushes a support desk drops."""
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
        if content is None:
            return None
        # Events have no MsgId: the key is the sender, the time and the event name.
        external_id = f"event:{sender_id}:{created}:{content.meta['event']}"
    else:
        content = CONTENT_READERS.get(msg_type, _unsupported)(fields)
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


def _event(fields: dict[str, str]) -> Content | None:
    """The events that open WeChat's reply window, kept unrouted; None for the rest."""
    event = fields.get("Event", "").strip()
    if event.lower() not in KEPT_EVENTS:
        return None
    content = Content(flags=["event"], route=False)
    content.meta["event"] = event
    if fields.get("EventKey"):
        content.meta["event_key"] = fields["EventKey"]
    return content


def _text(fields: dict[str, str]) -> Content:
    return Content(text=fields.get("Content", ""))


def _image(fields: dict[str, str]) -> Content:
    image = Attachment(
        url=fields.get("PicUrl") or None, media_id=fields.get("MediaId") or None, content_type="image/jpeg"
    )
    return Content(attachments=[image])


def _voice(fields: dict[str, str]) -> Content:
    """The audio, with WeChat's speech recognition as the text when it sent one."""
    fmt = (fields.get("Format") or "amr").lower()
    content = Content(attachments=[Attachment(media_id=fields.get("MediaId") or None, content_type=f"audio/{fmt}")])
    recognition = fields.get("Recognition", "").strip()
    if recognition:
        content.text = recognition
        content.meta["recognition"] = recognition
    return content


def _video(fields: dict[str, str]) -> Content:
    content = Content(attachments=[Attachment(media_id=fields.get("MediaId") or None, content_type="video/mp4")])
    if fields.get("ThumbMediaId"):
        content.meta["thumb_media_id"] = fields["ThumbMediaId"]
    return content


def _location(fields: dict[str, str]) -> Content:
    lat, lon = fields.get("Location_X", ""), fields.get("Location_Y", "")
    label = fields.get("Label", "")
    where = {"latitude": lat, "longitude": lon, "scale": fields.get("Scale", ""), "label": label}
    return Content(text=location_text(lat, lon, name=label), meta={"location": where})


def _link(fields: dict[str, str]) -> Content:
    parts = [fields.get("Title", ""), fields.get("Url", ""), fields.get("Description", "")]
    link = {"title": parts[0], "url": parts[1], "description": parts[2]}
    return Content(text="\n".join(p for p in parts if p), meta={"link": link})


def _unsupported(fields: dict[str, str]) -> Content:
    return Content(flags=["unsupported"])


CONTENT_READERS: dict[str, Callable[[dict[str, str]], Content]] = {
    "text": _text,
    "image": _image,
    "voice": _voice,
    "video": _video,
    "shortvideo": _video,
    "location": _location,
    "link": _link,
}
