"""Mending a mail's header block before the standard library reads it.

The library's parser stops reading headers at the first line that is neither a header
nor a folded continuation, and takes everything after it as the body. Real mail breaks
that rule in ways robust readers (mail clients, webmail) put up with:

* a folded line that lost its leading whitespace (a long encoded-word Subject written by
  a broken mailer): the headers after it — From, Content-Type, the transfer encoding —
  would be lost and the body read as base64 text;
* a line before the first header (an export's title such as "Microsoft Mail Internet
  Headers Version 2.0", a stray blank line): the whole mail would become body;
* ``Subject : …`` with a space before the colon.

Here such a line is read as a continuation when headers follow it (and the header block
ends with a blank line, so it is one), leading junk is set aside when headers follow it,
and the space before a colon is dropped. Nothing is thrown away: what was set aside is
named in the returned notes (kept as the mail's defects).
"""

from __future__ import annotations

import re

_HEADER = re.compile(rb"^[!-9;-~]+[ \t]*:")
_SPACED_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:")
_MAX_LEADING = 3  # junk lines set aside before the first header, at most
MAX_HEADER_LINES = 5000  # a longer "header block" is left to the library as it is


def _is_blank(line: bytes) -> bool:
    return not line.strip(b"\r\n")


def _is_continuation(line: bytes) -> bool:
    return line[:1] in (b" ", b"\t")


def repair_headers(raw: bytes) -> tuple[bytes, list[str]]:
    """``raw`` with its header block mended, and notes on what was changed."""
    lines = raw.splitlines(keepends=True)
    notes: list[str] = []
    start = _first_header(lines, notes)
    if start is None:
        return raw, []
    end = next((i for i in range(start, min(len(lines), start + MAX_HEADER_LINES)) if _is_blank(lines[i])), None)
    if end is None:
        return raw, []  # no blank line ends a header block: nothing to mend safely
    head = lines[start:end]
    # later[i]: a header line follows line i before the blank line that ends the block.
    later = [False] * len(head)
    seen = False
    for i in range(len(head) - 1, -1, -1):
        later[i] = seen
        seen = seen or bool(_HEADER.match(head[i]))
    mended: list[bytes] = []
    for i, line in enumerate(head):
        if _HEADER.match(line) or _is_continuation(line) or (i == 0 and line.startswith(b"From ")):
            spaced = _SPACED_NAME.match(line)
            if spaced:
                line = spaced.group(1) + b":" + line[spaced.end() :]
                notes.append("a header name followed by spaces before its colon")
            mended.append(line)
        elif later[i] and i > 0:
            mended.append(b" " + line)
            notes.append("a folded header line without leading whitespace")
        else:
            # No header follows: the body starts here, without the blank line.
            mended.append(b"\r\n" if line.endswith(b"\r\n") else b"\n")
            mended.extend(head[i:])
            break
    if not notes:
        return raw, []
    return b"".join([*mended, *lines[end:]]), list(dict.fromkeys(notes))


def _first_header(lines: list[bytes], notes: list[str]) -> int | None:
    """Where the headers start: 0, or after a few blank or junk lines that headers follow
    (each noted); None when no header is near the top (the library reads it as it is)."""
    for skip in range(min(_MAX_LEADING, len(lines) - 1) + 1):
        line = lines[skip]
        if _HEADER.match(line) or (skip == 0 and line.startswith(b"From ")):
            if skip and not all(_HEADER.match(x) or _is_continuation(x) for x in lines[skip : skip + 2]):
                return None  # one header-like line is not a header block
            for junk in lines[:skip]:
                text = junk.strip().decode("utf-8", "replace")[:200]
                notes.append(f"set aside before the headers: {text!r}" if text else "blank lines before the headers")
            return skip
    return None
