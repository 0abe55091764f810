"""The FAQ in force, reloaded when its file changes; a bad edit keeps the previous answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.selfservice.faq_book import FaqBook, FaqEntry, FaqError, load_faq

log = logging.getLogger(__name__)


class FaqLibrary:
    """The FAQ in force. The file is polled (mtime and size); a changed file that does not
    validate keeps the old entries, logs each ``PATH:LINE`` problem and shows it in stats."""

    def __init__(self, path: Path, *, interval: float = 2.0) -> None:
        self.path = path
        self.interval = interval
        self.book: FaqBook = load_faq(path)  # FaqError at start-up: the config check reports it
        self._previous: FaqBook | None = None
        self._stamp = self._file_stamp()
        self.error: str | None = None
        self.loaded_at = time.time()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def reload_if_changed(self) -> bool:
        """Reload if the file changed; True when new entries are in force."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            book = load_faq(self.path)
        except FaqError as exc:
            self.error = "; ".join(exc.problems)
            for problem in exc.problems:
                log.error("FAQ file not reloaded, the previous answers stay: %s", problem)
            return False
        self.error = None
        if book.version == self.book.version:
            return False
        self._previous, self.book = self.book, book
        self.loaded_at = time.time()
        log.info("FAQ reloaded", extra={"faq_version": book.version, "entries": len(book.entries)})
        return True

    def entry(self, entry_id: str) -> FaqEntry | None:
        """An entry of the FAQ in force, or of the one before (a reload between a match and
        its answer must not lose the answer)."""
        found = self.book.get(entry_id)
        if found is None and self._previous is not None:
            found = self._previous.get(entry_id)
        return found

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.reload_if_changed)
            except Exception:
                log.exception("FAQ reload check failed")

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(self.run(), name="faq-reload")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def status(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "version": self.book.version,
            "entries": len(self.book.entries),
            "loaded_at": datetime.fromtimestamp(self.loaded_at, UTC).isoformat(),
            "error": self.error,
        }
