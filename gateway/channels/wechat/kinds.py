"""What each kind of WeChat message says, as text an agent reads.

``text`` → text; ``image`` → an attachment with ``PicUrl`` and ``MediaId`` ("[photo]");
``voice`` → an attachment (``audio/<Format>``) with WeChat's speech ``Recognition`` as the
text when present; ``video``/``shortvideo`` → an attachment; ``location`` → place and
coordinates; ``link`` → title, URL and description; ``miniprogrampage`` → the mini
program page's title. Another ``MsgType`` is kept with a placeholder naming it.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.channels.fields import Content, location_text
from gateway.channels.kinds import media_line, unknown_line
from gateway.model import Attachment

Fields = dict[str, str]


def read_message(fields: Fields, msg_type: str) -> Content:
    return READERS.get(msg_type, _unknown)(fields)


def _text(fields: Fields) -> Content:
    return Content(text=fields.get("Content", ""))


def _image(fields: Fields) -> Content:
    image = Attachment(
        url=fields.get("PicUrl") or None, media_id=fields.get("MediaId") or None, content_type="image/jpeg"
    )
    return Content(text=media_line("image"), attachments=[image])


def _voice(fields: Fields) -> Content:
    """The audio, with WeChat's speech recognition as the text when it sent one."""
    fmt = (fields.get("Format") or "amr").lower()
    attachment = Attachment(media_id=fields.get("MediaId") or None, content_type=f"audio/{fmt}")
    content = Content(text=media_line("voice"), attachments=[attachment])
    recognition = fields.get("Recognition", "").strip()
    if recognition:
        content.text = recognition
        content.meta["recognition"] = recognition
    return content


def _video(fields: Fields) -> Content:
    kind = "shortvideo" if fields.get("MsgType", "").strip().lower() == "shortvideo" else "video"
    attachment = Attachment(media_id=fields.get("MediaId") or None, content_type="video/mp4")
    content = Content(text=media_line(kind), attachments=[attachment])
    if fields.get("ThumbMediaId"):
        content.meta["thumb_media_id"] = fields["ThumbMediaId"]
    return content


def _location(fields: Fields) -> Content:
    lat, lon = fields.get("Location_X", ""), fields.get("Location_Y", "")
    label = fields.get("Label", "")
    where = {"latitude": lat, "longitude": lon, "scale": fields.get("Scale", ""), "label": label}
    return Content(text=location_text(lat, lon, name=label), meta={"location": where})


def _link(fields: Fields) -> Content:
    parts = [fields.get("Title", ""), fields.get("Url", ""), fields.get("Description", "")]
    link = {"title": parts[0], "url": parts[1], "description": parts[2]}
    return Content(text="\n".join(p for p in parts if p) or "[link]", meta={"link": link})


def _mini_program(fields: Fields) -> Content:
    """A mini program page shared into the chat."""
    page = {"title": fields.get("Title", ""), "app_id": fields.get("AppId", ""), "page": fields.get("PagePath", "")}
    return Content(text=f"[mini program: {page['title'] or page['page']}]", meta={"mini_program": page})


def _unknown(fields: Fields) -> Content:
    kind = fields.get("MsgType", "").strip() or "unknown"
    return Content(text=unknown_line("WeChat", kind), flags=["unsupported"])


READERS: dict[str, Callable[[Fields], Content]] = {
    "text": _text,
    "image": _image,
    "voice": _voice,
    "video": _video,
    "shortvideo": _video,
    "location": _location,
    "link": _link,
    "miniprogrampage": _mini_program,
}
