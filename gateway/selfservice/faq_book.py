"""Self-service answers: the FAQ file, its validation, and keyword matching.

Pure: it reads one file and matches text; storage, sending and timing live in
``gateway.selfservice.service``. Matching is one Aho–Corasick pass over the normalised text
(NFKC, case-folded, whitespace collapsed), so its cost does not grow with the number of
keywords. CJK keywords match anywhere (Chinese has no spaces); a keyword that starts or
ends with a Latin letter or digit must start or end on a word boundary, where the end may
carry a plain English ending (``card`` matches "cards", ``lock`` "locked", never
"blockchain"), so ``fee`` does not fire on "feedback".
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import ahocorasick
import yaml

from gateway.routing.rules.yaml_lines import YamlProblem
from gateway.routing.rules.yaml_lines import compose as compose_yaml

T = TypeVar("T")

MAX_FILE_BYTES = 1024 * 1024
MAX_ANSWER_CHARS = 3000
MAX_KEYWORD_CHARS = 200
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SPACES = re.compile(r"\s+")
_NULL_TAG = "tag:yaml.org,2002:null"
# Endings a Latin keyword may carry and still match ("refund" → "refunds", "refunded").
_ENDINGS = ("s", "es", "ed", "ing")
_ENTRY_KEYS = ("id", "keywords", "answer")


def normalize(text: str) -> str:
    """Full-width to half-width, case-folded, runs of whitespace as one space."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold())


def _word_char(char: str) -> bool:
    """Letters and digits of alphabetic scripts: they need a word boundary. CJK and
    Hangul (from U+2E80 on) do not: a Chinese keyword matches inside a sentence."""
    return char.isalnum() and ord(char) < 0x2E80


@dataclass(frozen=True, slots=True)
class Hit(Generic[T]):
    start: int
    end: int  # exclusive, including an English ending
    keyword: str
    tags: tuple[T, ...]


class KeywordMatcher(Generic[T]):
    """Which of many keywords occur in a text, each keyword carrying its tags."""

    def __init__(self, keywords: Iterable[tuple[str, T]]) -> None:
        tagged: dict[str, list[T]] = {}
        for keyword, tag in keywords:
            norm = normalize(keyword).strip()
            if norm:
                tagged.setdefault(norm, []).append(tag)
        self._automaton: Any = None
        if tagged:
            automaton = ahocorasick.Automaton()
            for norm, tags in tagged.items():
                automaton.add_word(norm, (norm, tuple(tags)))
            automaton.make_automaton()
            self._automaton = automaton
        self.size = len(tagged)

    def find(self, text: str) -> list[Hit[T]]:
        if self._automaton is None or not text:
            return []
        norm = normalize(text)
        hits = []
        for last, (keyword, tags) in self._automaton.iter(norm):
            start = last - len(keyword) + 1
            if _word_char(keyword[0]) and start > 0 and _word_char(norm[start - 1]):
                continue
            end = last + 1
            if _word_char(keyword[-1]):
                end = _word_end(norm, end)
                if end < 0:
                    continue
            hits.append(Hit(start=start, end=end, keyword=keyword, tags=tags))
        return hits

    def contains_any(self, text: str) -> bool:
        return bool(self.find(text))


def _word_end(text: str, end: int) -> int:
    """Where the word ending at ``end`` stops (a plain English ending allowed), or -1."""
    if end >= len(text) or not _word_char(text[end]):
        return end
    for ending in _ENDINGS:
        stop = end + len(ending)
        if text.startswith(ending, end) and (stop >= len(text) or not _word_char(text[stop])):
            return stop
    return -1


def only_phrases(matcher: KeywordMatcher[Any], text: str) -> bool:
    """True when ``text`` holds at least one of the phrases and nothing else but spaces,
    punctuation and emoji ("好的，谢谢！", "ok thanks 👍")."""
    norm = normalize(text)
    hits = matcher.find(norm)
    if not hits:
        return False
    covered = [False] * len(norm)
    for hit in hits:
        for i in range(hit.start, hit.end):
            covered[i] = True
    return not any(c.isalnum() and not covered[i] for i, c in enumerate(norm))


@dataclass(frozen=True, slots=True)
class FaqEntry:
    id: str
    keywords: tuple[str, ...]
    answer: str
    line: int = 0


@dataclass(slots=True)
class FaqBook:
    """One loaded FAQ file: its entries and their matcher."""

    entries: list[FaqEntry]
    version: str = "empty"  # hash of the file's bytes
    source: str = ""
    _by_id: dict[str, FaqEntry] = field(default_factory=dict, repr=False)
    _matcher: KeywordMatcher[int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {e.id: e for e in self.entries}
        self._matcher = KeywordMatcher((kw, i) for i, e in enumerate(self.entries) for kw in e.keywords)

    def get(self, entry_id: str) -> FaqEntry | None:
        return self._by_id.get(entry_id)

    def match(self, text: str) -> FaqEntry | None:
        """The entry the text is most clearly about: the most distinct keywords found (one
        inside another of the same entry, 没到账 in 还没到账, counts once), then the longest
        keyword (the most specific), then the earlier entry in the file."""
        assert self._matcher is not None
        spans: dict[int, list[Hit[int]]] = {}
        for hit in self._matcher.find(text):
            for index in hit.tags:
                spans.setdefault(index, []).append(hit)
        if not spans:
            return None
        found = {
            index: {h.keyword for h in hits if not any(_inside(h, o) for o in hits)} for index, hits in spans.items()
        }
        best = max(found, key=lambda i: (len(found[i]), max(len(k) for k in found[i]), -i))
        return self.entries[best]


def _inside(hit: Hit[int], other: Hit[int]) -> bool:
    """``hit`` lies within ``other``, a longer keyword ("fee" in "fees", 没到账 in 还没到账)."""
    return other.start <= hit.start and hit.end <= other.end and len(other.keyword) > len(hit.keyword)


class FaqError(ValueError):
    """The file cannot be used; ``problems`` are ``PATH:LINE: message`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load_faq(path: Path) -> FaqBook:
    """Read and validate the FAQ file, or raise ``FaqError`` naming each problem."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FaqError([f"{path}: no such file"]) from None
    except OSError as exc:
        raise FaqError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise FaqError([f"{path}: larger than {MAX_FILE_BYTES} bytes"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FaqError([f"{path}: not UTF-8 (byte {exc.start})"]) from None
    book = parse_faq(text, source=str(path))
    book.version = hashlib.sha256(data).hexdigest()[:12]
    return book


def parse_faq(text: str, *, source: str = "faq.yaml") -> FaqBook:
    try:
        root = compose_yaml(text)
    except YamlProblem as exc:  # syntax, or aliases past the budget
        raise FaqError([exc.located(source)]) from None
    problems: list[str] = []

    def problem(node: yaml.Node | None, message: str) -> None:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        problems.append(f"{source}{line}: {message}")

    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL_TAG):
        raise FaqError([f"{source}: empty file; it needs `entries:` (a list, may be empty)"])
    top = _mapping(root, "the top level", problem)
    if top is None:
        raise FaqError(problems)
    for key, (key_node, _) in top.items():
        if key not in ("entries", "version"):
            problem(key_node, f"unknown key {key!r} (expected entries, version)")
    if "entries" not in top:
        problem(root, "`entries:` is missing")
        raise FaqError(problems)
    entries_node = top["entries"][1]
    entries: list[FaqEntry] = []
    items: list[yaml.Node] = []
    if isinstance(entries_node, yaml.SequenceNode):
        items = entries_node.value
    elif _scalar(entries_node) is not None or not isinstance(entries_node, yaml.ScalarNode):
        problem(entries_node, "entries: must be a list")  # `entries:` left empty means none
    seen: dict[str, int] = {}
    for index, node in enumerate(items):
        entry = _entry(node, f"entries[{index}]", problem)
        if entry is None:
            continue
        if entry.id in seen:
            problem(node, f"entries[{index}].id: {entry.id!r} is used already (line {seen[entry.id]})")
            continue
        seen[entry.id] = entry.line
        entries.append(entry)
    if problems:
        raise FaqError(problems)
    return FaqBook(entries=entries, source=source)


def _mapping(node: yaml.Node, where: str, problem: Any) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
    if not isinstance(node, yaml.MappingNode):
        problem(node, f"{where}: must be a mapping")
        return None
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
        if key in out:
            problem(key_node, f"{where}: key {key!r} appears twice")
            continue
        out[key] = (key_node, value_node)
    return out


def _scalar(node: yaml.Node) -> str | None:
    if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL_TAG:
        return None
    return str(node.value)


def _entry(node: yaml.Node, where: str, problem: Any) -> FaqEntry | None:
    fields = _mapping(node, where, problem)
    if fields is None:
        return None
    ok = True
    for key, (key_node, _) in fields.items():
        if key not in _ENTRY_KEYS:
            problem(key_node, f"{where}: unknown key {key!r} (expected id, keywords, answer)")
            ok = False
    entry_id = _scalar(fields["id"][1]) if "id" in fields else None
    if entry_id is None or not _ID.match(entry_id.strip()):
        problem(fields["id"][1] if "id" in fields else node, f"{where}.id: needs 1–64 letters, digits, '-', '_' or '.'")
        ok = False
    keywords: list[str] = []
    kw_node = fields["keywords"][1] if "keywords" in fields else None
    if not isinstance(kw_node, yaml.SequenceNode) or not kw_node.value:
        problem(kw_node or node, f"{where}.keywords: needs a non-empty list of keywords")
        ok = False
    else:
        for i, item in enumerate(kw_node.value):
            value = _scalar(item)
            if value is None or not normalize(value).strip():
                problem(item, f"{where}.keywords[{i}]: must be non-empty text")
                ok = False
            elif len(value) > MAX_KEYWORD_CHARS:
                problem(item, f"{where}.keywords[{i}]: longer than {MAX_KEYWORD_CHARS} characters")
                ok = False
            else:
                keywords.append(value.strip())
    answer = _scalar(fields["answer"][1]) if "answer" in fields else None
    if answer is None or not answer.strip():
        problem(fields["answer"][1] if "answer" in fields else node, f"{where}.answer: needs the answer text")
        ok = False
    elif len(answer) > MAX_ANSWER_CHARS:
        problem(fields["answer"][1], f"{where}.answer: longer than {MAX_ANSWER_CHARS} characters")
        ok = False
    if not ok or entry_id is None or answer is None:
        return None
    return FaqEntry(id=entry_id.strip(), keywords=tuple(keywords), answer=answer.strip(), line=node.start_mark.line + 1)
