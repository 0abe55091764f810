"""What a Messenger or Instagram message says, as text an agent reads.

* Text, then one line per attachment: media as attachments with a ``[photo]``-style line
  when nothing was written; a location as place and coordinates; a shared link, post,
  reel or story mention as its title and URL (the title may sit on the attachment or in
  its ``payload``; Messenger's ``fallback`` attachments carry either); a product or
  generic template as its titles; Instagram's ❤ (``like_heart``) as ❤️.
* A ❤ alone, like a reaction, is stored but offered to no agent.
* ``is_unsupported`` (Instagram could not pass the message on) and attachment types not
  known here are kept with a placeholder naming them.
"""

from __future__ import annotations

from typing import Any

from gateway.channels.fields import Content, dict_of, list_of, location_text, optional_text
from gateway.channels.kinds import media_line, unknown_line
from gateway.model import Attachment

# Meta gives only a type for attachments; the MIME family is what is known.
CONTENT_TYPES = {"image": "image/*", "video": "video/*", "audio": "audio/*", "file": "application/octet-stream"}
# Shared things that are links to open: their title and URL are the line.
SHARES = {"share", "fallback", "story_mention", "ig_reel", "reel", "ig_post", "post", "media_share"}
LIKE = "like_heart"


def message_content(message: dict[str, Any], provider: str) -> Content:
    """Text, attachments and what they are, of one ``message`` object."""
    content = Content(meta={"type": "text"})
    lines = [optional_text(message.get("text"))] if optional_text(message.get("text")).strip() else []
    for raw in list_of(message.get("attachments")):
        line = _attachment(dict_of(raw), content, provider)
        if line:
            lines.append(line)
    if message.get("is_unsupported"):
        lines.append(f"[unsupported {provider} message]")
        content.flags.append("unsupported")
    _kind(content, lines)
    reply_context(message, content.meta)
    content.text = "\n".join(lines)
    return content


def _kind(content: Content, lines: list[str]) -> None:
    meta = content.meta
    if meta.get("like") and lines == ["❤️"]:
        meta["type"] = "like"
        content.flags.append("reaction")
        content.route = False  # a ❤ is no work for an agent
    elif any(a.media_id for a in content.attachments):
        meta["type"] = "sticker"
    elif content.attachments:
        meta["type"] = "media"
    elif "location" in meta:
        meta["type"] = "location"
    elif "shares" in meta:
        meta["type"] = "share"


def _attachment(attachment: dict[str, Any], content: Content, provider: str) -> str:
    """One attachment: a line for the agent, and an attachment or meta entry."""
    kind = optional_text(attachment.get("type"))
    payload = dict_of(attachment.get("payload"))
    url = optional_text(payload.get("url")) or optional_text(attachment.get("url")) or None
    title = optional_text(payload.get("title")) or optional_text(attachment.get("title"))
    if kind == LIKE:
        content.meta["like"] = True
        return "❤️"
    if kind == "location" or "coordinates" in payload:
        coords = dict_of(payload.get("coordinates"))
        lat, lon = coords.get("lat"), coords.get("long")
        content.meta["location"] = {"latitude": lat, "longitude": lon, **({"url": url} if url else {})}
        return location_text(lat, lon, name=title)
    if kind in SHARES or (kind not in CONTENT_TYPES and kind != "template" and url and "sticker_id" not in payload):
        ids = {k: v for k, v in payload.items() if k.endswith("_id") and isinstance(v, str | int)}
        content.meta.setdefault("shares", []).append({"type": kind, **({"url": url} if url else {}), **ids})
        label = {"story_mention": "mentioned you in their story"}.get(kind, "")
        return " ".join(p for p in (label or title, url or "") if p) or f"[{kind.replace('_', ' ')}]"
    if kind == "template":
        return _template(payload, content)
    if kind in CONTENT_TYPES or "sticker_id" in payload:
        sticker = payload.get("sticker_id")
        content.attachments.append(
            Attachment(
                url=url,
                media_id=str(sticker) if sticker is not None else None,
                content_type="image/*" if sticker is not None else CONTENT_TYPES[kind],
            )
        )
        return media_line("sticker" if sticker is not None else kind)
    content.meta.setdefault("unsupported", []).append(kind)
    return unknown_line(provider, kind or "attachment")


def _template(payload: dict[str, Any], content: Content) -> str:
    """A product or generic template the customer shared: its elements' titles."""
    elements = list_of(dict_of(payload.get("product")).get("elements")) or list_of(payload.get("elements"))
    titles = [optional_text(dict_of(e).get("title")) for e in elements]
    content.meta.setdefault("shares", []).append({"type": "template", "elements": elements})
    return "\n".join(f"🛍 {t}" for t in titles if t) or "[shared template]"


def reply_context(message: dict[str, Any], meta: dict[str, Any]) -> None:
    """The message or story it answers, and a quick-reply button's payload."""
    reply_to = dict_of(message.get("reply_to"))
    if isinstance(reply_to.get("mid"), str):
        meta["reply_to"] = reply_to["mid"]
    if isinstance(reply_to.get("story"), dict):
        meta["reply_to_story"] = reply_to["story"]
    quick = dict_of(message.get("quick_reply"))
    if isinstance(quick.get("payload"), str):
        meta["quick_reply"] = quick["payload"]
    if isinstance(message.get("referral"), dict):
        meta["referral"] = message["referral"]


def feedback_text(feedback: dict[str, Any]) -> str:
    """Messenger's customer feedback form: each answer, and the words written with it."""
    lines = ["[feedback]"]
    for screen in list_of(feedback.get("feedback_screens")):
        for question, answer in dict_of(dict_of(screen).get("questions")).items():
            answer = dict_of(answer)
            line = f"{question}: {optional_text(answer.get('payload')) or '-'}"
            follow = optional_text(dict_of(answer.get("follow_up")).get("payload"))
            lines.append(f"{line} — {follow}" if follow else line)
    return "\n".join(lines)
