"""The workflow in force, reloaded when its file changes; a bad edit keeps the one before."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.cases.workflow import Workflow
from gateway.cases.workflow_file import WorkflowError, file_version, workflow_from_text

log = logging.getLogger(__name__)


class WorkflowLibrary:
    """The file is polled (mtime and size); a changed file that does not validate keeps
    the old workflow, logs each ``PATH:LINE`` problem and shows it in ``status()``."""

    def __init__(
        self, path: Path, *, interval: float = 2.0, check: Callable[[Workflow], list[str]] = lambda w: []
    ) -> None:
        self.path = path
        self.interval = interval
        # What the file cannot know, checked on reloads (e.g. that its queues exist; at
        # start-up the rules manager requires them).
        self.check = check
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise WorkflowError([f"{path}:1: cannot read the workflow file: {exc.strerror or exc}"]) from None
        self.workflow: Workflow = workflow_from_text(raw, str(path))  # WorkflowError at start-up
        self.version = file_version(raw)
        self._stamp = self._file_stamp()
        self.error: str | None = None
        self.loaded_at = time.time()

    @classmethod
    def of(cls, workflow: Workflow) -> WorkflowLibrary:
        """A library holding ``workflow`` without a file (tests, tools)."""
        library = cls.__new__(cls)
        library.path, library.interval, library.workflow, library.check = Path("-"), 0.0, workflow, lambda w: []
        library.version, library._stamp, library.error, library.loaded_at = "", None, None, time.time()
        return library

    def __call__(self) -> Workflow:
        return self.workflow

    def _checked(self, workflow: Workflow) -> Workflow:
        problems = self.check(workflow)
        if problems:
            raise WorkflowError([f"{self.path}:1: {problem}" for problem in problems])
        return workflow

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def reload_if_changed(self) -> bool:
        """True when a changed file's workflow is now in force."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            raw = self.path.read_bytes()
            workflow = self._checked(workflow_from_text(raw, str(self.path)))
        except OSError as exc:
            workflow, raw, problems = None, b"", [f"{self.path}:1: cannot read the workflow file: {exc}"]
        except WorkflowError as exc:
            workflow, raw, problems = None, b"", exc.errors
        if workflow is None:
            self.error = "; ".join(problems)
            for problem in problems:
                log.error("workflow file not reloaded, the previous workflow stays: %s", problem)
            return False
        self.error = None
        version = file_version(raw)
        if version == self.version:
            return False
        self.workflow, self.version, self.loaded_at = workflow, version, time.time()
        log.info("case workflow reloaded", extra={"workflow_version": version, "categories": len(workflow.categories)})
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.reload_if_changed)
            except Exception:
                log.exception("workflow reload check failed")

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(self.run(), name="case-workflow-reload")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def status(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "version": self.version,
            "categories": len(self.workflow.categories),
            "loaded_at": datetime.fromtimestamp(self.loaded_at, UTC).isoformat(),
            "error": self.error,
        }
