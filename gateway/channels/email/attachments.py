"""Attachment content on disk under ``channels.email.attachments_dir``.

Card numbers in text attachments are masked before they are written, as in message text
(``masked_text_attachment``); images, PDFs and other binary files are kept as received.
Files are named by the SHA-256 of their content: a redelivered mail, or the same logo
in a hundred mails, is stored once, and a key names exactly one content. Writes go to a
temporary file renamed into place, so a reader never sees half a file. The key
(``Attachment.storage_key``) is ``ab/abcdef…`` relative to the directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path

from gateway.channels.email.charsets import normalize_charset
from gateway.redaction import mask_card_numbers

_KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{64}$")
# Attachments that are text a customer may have pasted a card number into.
_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/csv", "application/x-ndjson"})


def masked_text_attachment(data: bytes, content_type: str, charset: str | None) -> bytes:
    """``data`` with card numbers masked, for a text attachment (``text/*``, JSON, XML,
    CSV) in its own charset; anything else, or text that decodes in none of its label,
    UTF-8 and GB18030, is returned as it is."""
    if not (content_type.startswith("text/") or content_type in _TEXT_TYPES) or not data:
        return data
    codec = normalize_charset(charset)
    # Mislabelled text is common (GBK sent as utf-8); a decode that succeeds re-encodes
    # byte for byte, and masking only turns ASCII digits into "*".
    for name in dict.fromkeys([codec or "utf-8", "utf-8", "gb18030"]):
        try:
            text = data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        masked = mask_card_numbers(text)
        if masked == text or masked is None:
            return data
        try:
            return masked.encode(name)
        except UnicodeEncodeError:
            return data
    return data


class AttachmentStore:
    def __init__(self, root: Path | None, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def fits(self, size: int) -> bool:
        return size <= self.max_bytes

    def path_for(self, key: str) -> Path | None:
        """The file of a key, or None for a key that is not one of ours (no traversal)."""
        if self.root is None or not _KEY.match(key):
            return None
        return self.root / key

    def _write(self, root: Path, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest}"
        target = root / key
        if target.exists() and target.stat().st_size == len(data):
            return key
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    async def save(self, data: bytes) -> str:
        """Store ``data`` durably and return its key; ``OSError`` when the disk fails (or
        no ``attachments_dir`` is set: see ``enabled``)."""
        if self.root is None:
            raise OSError("channels.email.attachments_dir is not set")
        return await asyncio.to_thread(self._write, self.root, data)

    async def load(self, key: str) -> bytes | None:
        path = self.path_for(key)
        if path is None:
            return None
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError:
            return None
