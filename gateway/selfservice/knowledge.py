"""The knowledge base (客服知识库): articles agents search from the reply box and insert
as canned replies (``GET /api/v1/knowledge?q=&language=``).

``knowledge.file`` is YAML ``articles:``, each ``{id, title, body, tags, language}``; the
FAQ's entries count as articles too (title: the entry id, tags: its keywords, body: its
answer, in the asked language where it is written in both). The file is read again when
it changes (checked at most every ``interval`` seconds, on a query); a changed file that
does not validate keeps the articles in force and says why in the log.

A query matches an article holding every word of it (``search_terms``: case, width,
Chinese by character pairs) in its title, tags or body; title and tag matches rank first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from gateway.routing.rules.yaml_lines import YamlProblem
from gateway.routing.rules.yaml_lines import load as load_yaml
from gateway.selfservice.faq_library import FaqLibrary
from gateway.selfservice.languages import in_language
from gateway.storage.search_terms import text_terms

log = logging.getLogger(__name__)

MAX_RESULTS = 20
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ArticleModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
    title: Short
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
    tags: list[Short] = Field(default_factory=list, max_length=50)
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")] | None = None


class KnowledgeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = None
    articles: list[ArticleModel] = Field(default_factory=list, max_length=10_000)


class KnowledgeError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    title: str
    body: str
    tags: tuple[str, ...]
    language: str | None
    source: str  # "knowledge" or "faq"

    def view(self, language: str | None) -> dict[str, Any]:
        body = in_language(self.body, language) if self.source == "faq" else self.body
        return {
            "id": self.id,
            "title": self.title,
            "body": body,
            "tags": list(self.tags),
            "language": self.language,
            "source": self.source,
        }


def load_knowledge(path: Path) -> list[Article]:
    """Read and validate ``path``, or raise ``KnowledgeError`` with each ``PATH: problem``."""
    try:
        raw = load_yaml(path.read_text(encoding="utf-8")) or {}
    except YamlProblem as exc:  # syntax, or aliases past the budget
        raise KnowledgeError([exc.located(path)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError([f"{path}: {exc}"]) from None
    try:
        parsed = KnowledgeFile.model_validate(raw)
    except ValidationError as exc:
        raise KnowledgeError(
            [f"{path}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        ) from None
    seen: set[str] = set()
    for article in parsed.articles:
        if article.id in seen:
            raise KnowledgeError([f"{path}: articles: id {article.id!r} appears twice"])
        seen.add(article.id)
    return [
        Article(a.id, a.title, a.body, tuple(a.tags), a.language, "knowledge") for a in parsed.articles
    ]


class KnowledgeBase:
    """The articles in force: the knowledge file's (if any) and the FAQ's (if any)."""

    def __init__(self, path: Path | None, faq: FaqLibrary | None, *, interval: float = 2.0) -> None:
        self.path = path
        self.faq = faq
        self.interval = interval
        self.articles: list[Article] = load_knowledge(path) if path else []
        self.error: str | None = None
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()

    def _file_stamp(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _reload_if_changed(self) -> None:
        now = time.monotonic()
        if self.path is None or now - self._checked < self.interval:
            return
        self._checked = now
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self.articles = load_knowledge(self.path)
            self.error = None
            log.info("knowledge base reloaded", extra={"articles": len(self.articles)})
        except KnowledgeError as exc:
            self.error = "; ".join(exc.problems)
            for problem in exc.problems:
                log.error("knowledge file not reloaded, the previous articles stay: %s", problem)

    def _all(self) -> list[Article]:
        faq = []
        if self.faq is not None:
            faq = [Article(e.id, e.id, e.answer, e.keywords, None, "faq") for e in self.faq.book.entries]
        return [*self.articles, *faq]

    def search(self, query: str, language: str | None, *, limit: int = MAX_RESULTS) -> list[dict[str, Any]]:
        """Articles for ``query`` (all when empty) in ``language`` (or in none in particular)."""
        self._reload_if_changed()
        words = text_terms(query)
        ranked: list[tuple[int, int, Article]] = []
        for order, article in enumerate(self._all()):
            if language and article.language and not _same_language(article.language, language):
                continue
            head = set(text_terms(article.title, *article.tags))
            body = set(text_terms(article.body))
            if any(w not in head and w not in body for w in words):
                continue
            ranked.append((-sum(w in head for w in words), order, article))
        ranked.sort(key=lambda r: (r[0], r[1]))
        return [article.view(language) for _, _, article in ranked[:limit]]


def _same_language(article: str, asked: str) -> bool:
    return article.lower().split("-")[0] == asked.lower().split("-")[0]
