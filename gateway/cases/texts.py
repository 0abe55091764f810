"""The customer's texts: the language they get (zh or en), dates as they read them, and
templates filled in without ``str.format`` (a template can only name placeholders)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from gateway.cases.workflow import Texts, Workflow
from gateway.model import Contact, Conversation, Message
from gateway.routing import language as languages

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_DEFAULT_NOTE = {"zh": "正在处理中", "en": "we are working on it"}


def pick_language(
    workflow: Workflow, *, contact: Contact | None, conversation: Conversation | None, messages: list[Message]
) -> str:
    """``zh`` or ``en``: the contact's ``language`` attribute, else the language routing
    saw in the conversation, else the customer's latest words, else the workflow's default."""
    candidates: list[Any] = [contact.attributes.get("language") if contact else None]
    if conversation is not None and conversation.routing is not None:
        candidates.append(conversation.routing.language)
    for candidate in candidates:
        code = languages.normalise(candidate) if isinstance(candidate, str) else None
        if code in ("zh", "en"):
            return code
        if code is not None:
            return "en"  # a language we have no texts in: English
    for message in reversed(messages):
        if message.direction == "inbound" and message.text.strip():
            return "zh" if languages.detect_utf8(message.text.encode()) == "zh" else "en"
    return workflow.default_language


def date_text(ms: int | None, workflow: Workflow, language: str) -> str:
    """A due date as the customer reads it, in the workflow's time zone."""
    if not ms:
        return ""
    local = datetime.fromtimestamp(ms / 1000, UTC).astimezone(workflow.zone)
    if language == "zh":
        return f"{local.year}年{local.month}月{local.day}日"
    return f"{local.day} {local.strftime('%b')} {local.year}"


def render(texts: Texts, language: str, values: dict[str, str]) -> str:
    """The template in ``language`` with its placeholders filled; an unknown one stays as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), texts.pick(language))


def stage_text(workflow: Workflow, stage: str, language: str) -> str:
    names = workflow.stage_names.get(stage)
    return names.pick(language) if names else stage


def default_note(language: str) -> str:
    return _DEFAULT_NOTE.get(language, _DEFAULT_NOTE["en"])
