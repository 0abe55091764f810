"""Ops-supplied regular expressions (a rule's ``regex:``), compiled with RE2.

RE2 matches in time linear in the text, whatever the pattern: ``(a+)+$`` on a long
customer message costs microseconds, not the event loop. What RE2 cannot do it refuses
at compile time (backreferences ``\\1``, lookarounds ``(?=``/``(?<=``/``(?!``, possessive
and atomic groups, repetition counts above 1000, patterns whose program would take more
than ``MAX_MEMORY`` bytes); the rules file is then refused with ``PATH:LINE`` like any
other mistake (docs/security.md, "Patterns"). Python's ``re`` never runs an ops pattern.
"""

from __future__ import annotations

from typing import Any

import re2

MAX_MEMORY = 8 << 20  # bytes RE2 may use for one compiled pattern
MAX_LENGTH = 1000  # characters of one pattern


class PatternRefused(ValueError):
    """A pattern RE2 cannot compile (or that is too large)."""


def compile_pattern(text: str) -> Any:
    """``text`` compiled case-insensitively, or ``PatternRefused`` saying why not."""
    if len(text) > MAX_LENGTH:
        raise PatternRefused(f"RE2: longer than {MAX_LENGTH} characters")
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = MAX_MEMORY
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternRefused(f"RE2: {reason}") from None
