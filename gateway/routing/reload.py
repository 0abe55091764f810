"""Rules that change without a restart: file change, ``SIGHUP``, or ``PUT /api/v1/routing/rules``.

Every path does the same thing: validate the whole file, compile it, declare any new
queues on the broker, then swap ``RouterHolder.current`` in one assignment. Anything that
fails before the swap leaves the rules in force untouched and says why (a log line, or the
422 of the PUT) — a typo in the file must never stop routing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.routing.engine import RulesRouter
from gateway.routing.lint import lint
from gateway.routing.publisher import Publisher
from gateway.routing.router import RouterHolder
from gateway.routing.rules import RulesError, RuleSet, load_rules, parse_rules_bytes

log = logging.getLogger(__name__)

DECLARE_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedRules:
    """One compiled rules version and what ops want to know about it."""

    rules: RuleSet
    router: RulesRouter
    warnings: list[str]
    loaded_at: datetime
    reason: str

    @property
    def version(self) -> str:
        return self.rules.version


def compile_rules(rules: RuleSet, *, reason: str) -> LoadedRules:
    return LoadedRules(
        rules=rules, router=RulesRouter(rules=rules), warnings=lint(rules), loaded_at=datetime.now(UTC), reason=reason
    )


def require_queues(rules: RuleSet, required: frozenset[str]) -> RuleSet:
    """``rules`` when they define every queue the configuration names (the escalations
    queue, the case categories' queues); else ``RulesError`` — a breach or an overdue case
    offered to an undeclared queue would be lost."""
    missing = sorted(required - set(rules.queues))
    if missing:
        raise RulesError(
            [
                f"{rules.path}:1: queue {q!r} is named by the configuration (reply_tracking.escalation_queue "
                f"or a case category of cases.file) but not defined"
                for q in missing
            ]
        )
    return rules


def load_at_startup(path: Path, required_queues: frozenset[str] = frozenset()) -> LoadedRules:
    """Start-up refuses a missing or invalid rules file (``RulesError`` naming every ``PATH:LINE``)."""
    loaded = compile_rules(require_queues(load_rules(path), required_queues), reason="start-up")
    for warning in loaded.warnings:
        log.warning("routing rules warning", extra={"warning": warning})
    return loaded


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers (and the other gateway processes polling the file) see the old or the new
    file, never half of one: write beside it, flush to disk, then rename over it."""
    directory = path.parent if str(path.parent) else Path(".")
    mode = None
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode if mode is not None else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class RulesManager:
    """Owns the rules file of one gateway process and the swaps of its router."""

    def __init__(
        self,
        *,
        path: Path,
        holder: RouterHolder,
        publisher: Publisher,
        initial: LoadedRules,
        poll_interval: float = 2.0,
        required_queues: frozenset[str] = frozenset(),
    ) -> None:
        self.path = path
        self.required_queues = required_queues
        self.holder = holder
        self.publisher = publisher
        self.current = initial
        self.poll_interval = poll_interval
        self._signature = _signature(path)
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task[bool]] = set()
        holder.current = initial.router

    def __repr__(self) -> str:
        return f"RulesManager(path={str(self.path)!r}, version={self.current.version!r})"

    async def _swap(self, loaded: LoadedRules) -> None:
        try:
            await asyncio.wait_for(self.publisher.declare_queues(loaded.router.queues()), DECLARE_TIMEOUT)
        except Exception as exc:  # the publisher declares them again when it reconnects
            log.warning("could not declare the new queues yet", extra={"error": type(exc).__name__})
        self.holder.current = loaded.router
        self.current = loaded
        log.info(
            "routing rules loaded",
            extra={
                "rules_version": loaded.version,
                "reason": loaded.reason,
                "rule_count": len(loaded.rules.rules),
                "warnings": loaded.warnings,
            },
        )

    async def reload(self, reason: str) -> bool:
        """Read the file again; True when a new version is now in force."""
        async with self._lock:
            self._signature = _signature(self.path)
            try:
                rules = require_queues(await asyncio.to_thread(load_rules, self.path), self.required_queues)
            except RulesError as exc:
                log.error(
                    "routing rules rejected; the rules in force stay",
                    extra={"reason": reason, "errors": exc.errors, "rules_version": self.current.version},
                )
                return False
            if rules.version == self.current.version:
                log.info("routing rules unchanged", extra={"reason": reason, "rules_version": rules.version})
                return False
            loaded = await asyncio.to_thread(compile_rules, rules, reason=reason)
            await self._swap(loaded)
            return True

    async def replace(self, data: bytes) -> tuple[LoadedRules, bool]:
        """Validate ``data`` as the new rules file, write it, swap. ``RulesError`` leaves
        file and rules as they were. Returns what is in force and whether it changed."""
        async with self._lock:
            rules = require_queues(
                await asyncio.to_thread(parse_rules_bytes, data, path=str(self.path)), self.required_queues
            )
            same = rules.version == self.current.version
            loaded = self.current if same else await asyncio.to_thread(compile_rules, rules, reason="api")
            # Written even when unchanged: the file may meanwhile hold a rejected edit.
            await asyncio.to_thread(_write_atomically, self.path, data)
            self._signature = _signature(self.path)
            if not same:
                await self._swap(loaded)
            return loaded, not same

    def request_reload(self, reason: str = "SIGHUP") -> None:
        """For a signal handler: schedule a reload without blocking the handler."""
        task = asyncio.get_running_loop().create_task(self.reload(reason), name="rules-reload")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def watch(self) -> None:
        """Poll the file's mtime; editors and deploy tools need no signal to be picked up."""
        while True:
            await asyncio.sleep(self.poll_interval)
            if _signature(self.path) != self._signature:
                try:
                    await self.reload("file change")
                except Exception:
                    log.exception("routing rules reload failed; the rules in force stay")
