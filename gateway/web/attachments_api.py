"""Downloading a stored attachment:
``GET /api/v1/conversations/{id}/messages/{message_id}/attachments/{index}``.

Inbound email attachments are kept on disk by the email channel's ``AttachmentStore``
(content-addressed, ``Attachment.storage_key``); this is how an agent gets one back. The
file is always sent as a download (``Content-Disposition: attachment``) with
``nosniff`` and a sandboxing CSP: what a customer attached (HTML, SVG) must never run in
the gateway's origin. The name goes in ``filename*`` (RFC 6266 / RFC 5987, UTF-8, so
``交易凭证.pdf`` survives) with a plain ASCII ``filename`` for old clients.

An attachment that only has a URL (or a provider media id) is not ours to serve:
``404 not_stored``, with the URL in the error so a client can follow it itself.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import unicodedata
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from gateway.channels.email import EmailChannel
from gateway.channels.email.attachments import AttachmentStore
from gateway.errors import RequestRejected
from gateway.model import Attachment, Channel
from gateway.web.auth import require
from gateway.web.errors import json_error
from gateway.web.read_scope import ReadScope
from gateway.wiring.services import SERVICES, Services

# ``type/subtype`` made of RFC 9110 token characters; anything else is served as bytes.
_MEDIA_TYPE = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")
FALLBACK_TYPE = "application/octet-stream"
MAX_NAME_CHARS = 200
MAX_INDEX_DIGITS = 6  # far beyond any message's attachment count
# The file is data, never a document of this origin: no scripts, no plugins, no frames.
FILE_CSP = "default-src 'none'; sandbox"
# RFC 5987 attr-char beyond letters and digits (which ``quote`` always keeps).
_ATTR_CHARS = "!#$&+-.^_`|~"


def _index(raw: str) -> int:
    """A whole number from 0 in ASCII digits; one too long to be any message's is -1
    (out of range, 404) without turning thousands of digits into an int."""
    if not raw.isascii() or not raw.isdigit():
        raise RequestRejected(422, "invalid_index", "the attachment index must be a whole number from 0")
    digits = raw.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_INDEX_DIGITS else -1


def media_type(content_type: str | None) -> str:
    """The attachment's media type without parameters, if it is a well-formed one."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    return value if _MEDIA_TYPE.match(value) else FALLBACK_TYPE


def clean_name(name: str | None, content_type: str) -> str:
    """A file name a browser can save: no directories, no control characters, not empty."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip().strip(".")
    if not base:
        base = "attachment" + (mimetypes.guess_extension(content_type) or "")
    if len(base) > MAX_NAME_CHARS:
        _, dot, ext = base.rpartition(".")
        keep = ext if dot and 0 < len(ext) <= 10 else ""
        base = base[: MAX_NAME_CHARS - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return base


def _ascii_fallback(name: str) -> str:
    """The name as plain ASCII for ``filename=``: accents dropped (``café`` → ``cafe``),
    a name with nothing readable left becomes ``attachment`` with its extension."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    plain_ext = ext if ext.isascii() and ext.isalnum() and len(ext) <= 10 else ""
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    plain = re.sub(r'[^\x20-\x7e]|["\\%;]', "_", plain).strip(" _.")
    if not any(c.isalnum() for c in plain):
        plain = "attachment"
    return plain + ("." + plain_ext if plain_ext else "")


def content_disposition(name: str) -> str:
    encoded = quote(name, safe=_ATTR_CHARS, encoding="utf-8")
    return f"attachment; filename=\"{_ascii_fallback(name)}\"; filename*=UTF-8''{encoded}"


def attachment_store(services: Services) -> AttachmentStore | None:
    """The email channel's store, if that channel is on and keeps files."""
    adapter = services.adapter_for(Channel.EMAIL)
    if isinstance(adapter, EmailChannel) and adapter.attachments.enabled:
        return adapter.attachments
    return None


def _not_stored(item: Attachment) -> web.Response:
    if item.url:
        return json_error(
            404,
            "not_stored",
            f"the gateway does not keep this attachment's content; it is at {item.url}",
            url=item.url,
        )
    return json_error(404, "not_stored", "the gateway does not keep this attachment's content")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


async def get_attachment(request: web.Request) -> web.StreamResponse:
    principal = require(request, "agent", "ops")
    index = _index(request.match_info["index"])
    services = request.app[SERVICES]
    conv = ReadScope(request, principal).require(await services.store.get_conversation(request.match_info["id"]))
    message = await services.store.get_message(conv.id, request.match_info["message_id"])
    if message is None:
        raise RequestRejected(404, "message_not_found", "no such message in this conversation")
    if not 0 <= index < len(message.attachments):
        raise RequestRejected(
            404,
            "attachment_not_found",
            f"the message has {len(message.attachments)} attachment(s), numbered from 0; none has that index",
        )
    item = message.attachments[index]
    if not item.storage_key:
        return _not_stored(item)
    store = attachment_store(services)
    if store is None:
        raise RequestRejected(
            404, "no_attachment_store", "no attachment store is configured (channels.email.attachments_dir)"
        )
    path = store.path_for(item.storage_key)
    if path is None or not await asyncio.to_thread(_is_file, path):
        raise RequestRejected(404, "attachment_gone", "the attachment's file is no longer in the attachment store")
    content_type = media_type(item.content_type)
    headers = {
        "Content-Type": content_type,
        "Content-Disposition": content_disposition(clean_name(item.name, content_type)),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_CSP,
        "Cache-Control": "private, no-store",
        "Referrer-Policy": "no-referrer",
    }
    # Streamed from disk; a file removed in the instant since the check is a plain 404.
    return web.FileResponse(path, headers=headers)


routes = [web.get("/api/v1/conversations/{id}/messages/{message_id}/attachments/{index}", get_attachment)]
