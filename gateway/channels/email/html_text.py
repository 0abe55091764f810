"""Plain text for agents from HTML-only mail (newsletters, webmail, phone clients).

The HTML itself is kept as received; this derives readable text: scripts, styles and
the head dropped, block elements on their own lines, links and images reduced to their
text, and blockquotes marked with ``>`` so quoted history can be recognised later.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "table", "tr", "ul",
}  # fmt: skip
_SKIP = {"script", "style", "head", "title", "template", "noscript"}
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")  # incl. no-break and ideographic spaces
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip_depth = 0
        self.quote_depth = 0
        self.pre_depth = 0

    def _break(self) -> None:
        line = "".join(self.current)
        if self.pre_depth == 0:
            line = _SPACES.sub(" ", line).strip()
        prefix = "> " * self.quote_depth
        self.lines.append(prefix + line if line else prefix.rstrip())
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
            return
        if tag == "body":
            self.skip_depth = 0  # a <head> left unclosed must not hide the whole body
        elif tag == "br":
            self._break()
        elif tag in _BLOCK:
            if self.current:
                self._break()
            if tag == "blockquote":
                self.quote_depth += 1
            elif tag == "pre":
                self.pre_depth += 1
            elif tag == "li":
                self.current.append("- ")
        elif tag in ("td", "th"):
            self.current.append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.current.append(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag in _BLOCK:
            if self.current:
                self._break()
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            elif tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            parts = data.split("\n")
            for i, part in enumerate(parts):
                if i:
                    self._break()
                self.current.append(part)
        else:
            self.current.append(data.replace("\r", " ").replace("\n", " "))

    def text(self) -> str:
        if self.current:
            self._break()
        out = "\n".join(line.rstrip() for line in self.lines)
        return _BLANK_LINES.sub("\n\n", out).strip()


def html_to_text(html: str) -> str:
    """Readable text of an HTML body; never raises."""
    if not html:
        return ""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient, but this must never stop a mail
        return re.sub(r"<[^>]*>", " ", html).strip()
    return parser.text()
