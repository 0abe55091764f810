"""The condition compiler: each condition of a rule becomes a check, and a line of evidence.

A check answers None when its condition holds for a message, else why not (a short
phrase for the explanation). The evidence says what a condition found when its rule
matched, for the ``matched (...)`` line. Both are built once per rules version, with
everything that does not depend on the message worked out in advance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.routing.engine.explain import none_of, quote
from gateway.routing.engine.keywords import KeywordTable
from gateway.routing.rules import KEYWORD_KINDS, Condition, attribute_value

if TYPE_CHECKING:
    from gateway.routing.engine.rules_router import MessageFacts

Check = Callable[["MessageFacts"], str | None]
Evidence = Callable[["MessageFacts"], str]


def compile_condition(condition: Condition, keywords: KeywordTable) -> Check:
    """The check of one condition; its keywords get their ids in ``keywords``."""
    build = _CHECKS.get(condition.kind)
    if build is None:
        raise ValueError(f"no check for condition kind {condition.kind!r}")  # the loader refuses unknown keys
    return build(condition, keywords)


def _channel_check(condition: Condition, keywords: KeywordTable) -> Check:
    wanted = frozenset(condition.values)
    wanted_text = quote(condition.shown)

    def check_channel(f: MessageFacts) -> str | None:
        channel = f.ctx.channel
        return None if channel in wanted else f"channel is '{channel}', wanted {wanted_text}"

    return check_channel


def _language_check(condition: Condition, keywords: KeywordTable) -> Check:
    wanted = frozenset(condition.values)
    wanted_codes = quote(condition.values)

    def check_language(f: MessageFacts) -> str | None:
        code = f.language
        if code in wanted:
            return None
        found = f"'{code}'" if code else "unknown"
        return f"language is {found} ({f.language_source}), wanted {wanted_codes}"

    return check_language


def _any_keyword_check(condition: Condition, keywords: KeywordTable) -> Check:
    """``keywords`` / ``subject_keywords``: one of them is in the text (the subject)."""
    key = condition.key
    ids = keywords.ids_of(condition.values)
    subject = condition.kind == "subject_keywords"
    failure = f"{key}: {none_of(condition.shown, 'the subject' if subject else 'the text')}"

    def check_any(f: MessageFacts) -> str | None:
        hits = f.subject_hits if subject else f.text_hits
        if not hits.isdisjoint(ids):
            return None
        if subject and not f.ctx.subject:
            return f"{key}: there is no subject"
        return failure

    return check_any


def _all_keywords_check(condition: Condition, keywords: KeywordTable) -> Check:
    key = condition.key
    ids = keywords.ids_of(condition.values)
    by_id = {keywords.ids[v]: s for v, s in zip(condition.values, condition.shown, strict=True)}

    def check_all(f: MessageFacts) -> str | None:
        hits = f.text_hits
        if ids <= hits:
            return None
        missing = [by_id[kid] for kid in sorted(ids - hits)]
        return f"{key}: {quote(missing, 'and')} not in the text"

    return check_all


def _regex_check(condition: Condition, keywords: KeywordTable) -> Check:
    patterns = condition.values
    failure = f"regex: {quote(condition.shown)} does not match the text"

    def check_regex(f: MessageFacts) -> str | None:
        text = f.ctx.text
        return None if any(p.search(text) for p in patterns) else failure

    return check_regex


def _attribute_check(condition: Condition, keywords: KeywordTable) -> Check:
    """``contact.<name>`` / ``attribute.<name>``: the value (or one of a list) is wanted."""
    key = condition.key
    wanted = frozenset(condition.values)
    wanted_text = quote(condition.shown)
    name = condition.attribute or ""
    from_contact = condition.kind == "contact"
    unset = f"{key} is not set, wanted {wanted_text}"

    def check_attribute(f: MessageFacts) -> str | None:
        actual = (f.ctx.contact_attributes if from_contact else f.ctx.attributes).get(name)
        if actual is None:
            return unset
        if actual.__class__ is str and actual.isascii():  # the common case, without the calls
            if actual.strip().lower() in wanted:
                return None
            return f"{key} is '{actual}', wanted {wanted_text}"
        if isinstance(actual, list | tuple | set | frozenset):
            have = [attribute_value(a) for a in actual if not isinstance(a, dict | list)]
            if not wanted.isdisjoint(have):
                return None
            return f"{key} has {quote(have, 'and') if have else 'nothing'}, wanted {wanted_text}"
        if not isinstance(actual, dict) and attribute_value(actual) in wanted:
            return None
        return f"{key} is '{actual}', wanted {wanted_text}"

    return check_attribute


def _business_hours_check(condition: Condition, keywords: KeywordTable) -> Check:
    want_open = bool(condition.values[0])

    def check_hours(f: MessageFacts) -> str | None:
        if f.business_open == want_open:
            return None
        state = "inside" if f.business_open else "outside"
        return f"{state} business hours ({f.hours_text()}), wanted {'inside' if want_open else 'outside'}"

    return check_hours


def _new_contact_check(condition: Condition, keywords: KeywordTable) -> Check:
    want_new = bool(condition.values[0])

    def check_new(f: MessageFacts) -> str | None:
        if f.ctx.new_contact == want_new:
            return None
        return "returning contact, wanted a new one" if want_new else "new contact, wanted a returning one"

    return check_new


def _verified_check(condition: Condition, keywords: KeywordTable) -> Check:
    want = bool(condition.values[0])

    def check_verified(f: MessageFacts) -> str | None:
        if f.ctx.verified == want:
            return None
        return "the customer is verified, wanted unverified" if f.ctx.verified else "the customer is not verified"

    return check_verified


_CHECKS: dict[str, Callable[[Condition, KeywordTable], Check]] = {
    "channel": _channel_check,
    "language": _language_check,
    "keywords": _any_keyword_check,
    "subject_keywords": _any_keyword_check,
    "all_keywords": _all_keywords_check,
    "regex": _regex_check,
    "contact": _attribute_check,
    "attribute": _attribute_check,
    "business_hours": _business_hours_check,
    "new_contact": _new_contact_check,
    "verified": _verified_check,
}


def condition_evidence(condition: Condition, keywords: KeywordTable) -> Evidence:
    """What a matched rule's condition found, for the "matched (...)" line."""
    kind, key = condition.kind, condition.key
    if kind in KEYWORD_KINDS:
        return _keywords_found(condition, keywords)
    if kind == "channel":
        return lambda f: f"channel: {f.ctx.channel}"
    if kind == "language":
        return lambda f: f"language: {f.language} ({f.language_source})"
    if kind == "regex":
        return _regex_found(condition)
    if kind in ("contact", "attribute"):
        name = condition.attribute or ""
        from_contact = kind == "contact"
        return lambda f: f"{key}: {(f.ctx.contact_attributes if from_contact else f.ctx.attributes).get(name)}"
    if kind == "business_hours":
        return lambda f: f"business_hours: {str(f.business_open).lower()} ({f.hours_text()})"
    if kind == "verified":
        return lambda f: f"verified: {str(f.ctx.verified).lower()}"
    return lambda f: f"new_contact: {str(f.ctx.new_contact).lower()}"


def _keywords_found(condition: Condition, keywords: KeywordTable) -> Evidence:
    pairs = [(keywords.id_of(v), s) for v, s in zip(condition.values, condition.shown, strict=True)]
    subject = condition.kind == "subject_keywords"
    prefix = f"{condition.key}: "

    def keywords_found(f: MessageFacts) -> str:
        hits = f.subject_hits if subject else f.text_hits
        return prefix + ", ".join([shown for kid, shown in pairs if kid in hits])

    return keywords_found


def _regex_found(condition: Condition) -> Evidence:
    def regex_found(f: MessageFacts) -> str:
        for pattern in condition.values:
            match = pattern.search(f.ctx.text)
            if match:
                return f"regex: /{pattern.pattern}/ found '{match.group(0)[:40]}'"
        return "regex"

    return regex_found
