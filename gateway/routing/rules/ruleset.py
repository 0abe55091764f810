"""What a loaded rules file is: typed, checked objects, and the text rules compare as."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from gateway.routing.calendar import BusinessHours

SUPPORTED_VERSION = 1
DEFAULT_PRIORITY = 3
MIN_PRIORITY, MAX_PRIORITY = 0, 9
MIN_LEVEL, MAX_LEVEL = 1, 5
MAX_RULES_BYTES = 4 * 1024 * 1024

TOP_LEVEL_KEYS = ("version", "timezone", "business_hours", "skills", "queues", "agents", "defaults", "rules")
PLAIN_CONDITIONS = (
    "channel",
    "language",
    "keywords",
    "all_keywords",
    "regex",
    "subject_keywords",
    "business_hours",
    "new_contact",
    "verified",
)
ATTRIBUTE_PREFIXES = {"contact.": "contact", "attribute.": "attribute"}
KEYWORD_KINDS = ("keywords", "all_keywords", "subject_keywords")


def fold(text: str) -> str:
    """Text as keyword matching sees it: full-width forms made plain (ＶＩＰ → vip), case folded."""
    if text.isascii():  # already NFKC, and casefold() is lower() for ASCII: the common case, faster
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def attribute_value(value: Any) -> str:
    """Attribute values compare as folded text, so ``VIP`` == ``vip`` and ``true`` == True."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return fold(str(value).strip())


def rules_version(text: str) -> str:
    """Short content hash: the same file gives the same version in every gateway process."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


class RulesError(Exception):
    """The rules cannot be used; ``errors`` are ``PATH:LINE: message`` lines, in file order."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    key: str  # as written: "channel", "contact.tier"
    kind: str  # a PLAIN_CONDITIONS name, "contact" or "attribute"
    values: tuple[Any, ...]  # normalised: folded keywords, compiled patterns, channel names, (bool,)
    shown: tuple[str, ...]  # as written, for explanations; one per value for keywords and regex
    line: int
    attribute: str | None = None  # the name after "contact." / "attribute."


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    queue: str
    priority: int
    timeout: float | None  # seconds this target holds the conversation before the next applies
    line: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    name: str
    conditions: tuple[Condition, ...]
    targets: tuple[Target, ...]
    line: int
    open_case: str | None = None  # a case category to open on the conversation


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    name: str
    skills: dict[str, int]  # required skill → minimum level
    line: int
    requires_verification: bool = False  # offered only once the customer's identity is settled


@dataclass(frozen=True, slots=True, kw_only=True)
class Agent:
    name: str
    skills: dict[str, int]
    capacity: int
    line: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    path: str
    text: str
    version: str
    timezone: ZoneInfo
    business_hours: BusinessHours | None
    skills: dict[str, int]  # declared skill → its line
    queues: dict[str, Queue]
    agents: dict[str, Agent]
    defaults: tuple[Target, ...]
    defaults_line: int
    rules: tuple[Rule, ...]
    lines: dict[str, int] = field(default_factory=dict)  # section name → line, for lint messages

    def can_serve(self, agent: str, queue: str) -> bool:
        """Whether ``agent`` meets every minimum skill level ``queue`` requires."""
        a, q = self.agents.get(agent), self.queues.get(queue)
        if a is None or q is None:
            return False
        return all(a.skills.get(skill, 0) >= level for skill, level in q.skills.items())

    def agents_for(self, queue: str) -> list[str]:
        return [name for name in self.agents if self.can_serve(name, queue)]

    def queues_for(self, agent: str) -> list[str]:
        return [name for name in self.queues if self.can_serve(agent, name)]
