"""Which language a customer writes in, cheaply enough to run on every message.

Routing only needs to tell scripts apart (Chinese vs English first of all), so this counts
characters by script instead of loading a language model. A CJK character carries about a
word, so a handful of Chinese characters outweighs the Latin letters of a product name
(``我的PayPal付款失败`` is Chinese; ``refund for order 退款`` is English).

The counting works on the UTF-8 bytes: the lead byte of a character tells its block
(``E4``–``E9`` CJK ideographs, ``E3`` CJK punctuation and kana, ``EA``–``ED`` Hangul), and
``bytes.translate`` counts them in C — a regular expression per script cost several times
more on every message the router decides.
"""

from __future__ import annotations

import re

# One CJK character weighs as much as this many Latin letters.
CJK_WEIGHT = 3


def _keep_only(*ranges: tuple[int, int]) -> bytes:
    """The ``delete`` argument of ``bytes.translate`` that keeps only bytes in ``ranges``."""
    return bytes(b for b in range(256) if not any(low <= b <= high for low, high in ranges))


_NOT_LATIN = _keep_only((0x41, 0x5A), (0x61, 0x7A), (0xC3, 0xC9))  # A-Z a-z, and À..ɏ lead bytes
_NOT_CJK = _keep_only((0xE3, 0xED))  # U+3000..U+DFFF: CJK punctuation, kana, ideographs, Hangul
_NOT_HANGUL = _keep_only((0xEA, 0xED))  # U+A000..U+DFFF: Hangul syllables (AC00..D7AF)
_LATIN_ASCII = re.compile(rb"[A-Za-z]")
_KANA = re.compile(rb"\xe3[\x81-\x83]")  # U+3040..U+30FF

# Names people and providers use for the languages we route on.
_ALIASES = {
    "chinese": "zh",
    "中文": "zh",
    "汉语": "zh",
    "漢語": "zh",
    "普通话": "zh",
    "cmn": "zh",
    "yue": "zh",
    "zho": "zh",
    "chi": "zh",
    "english": "en",
    "英文": "en",
    "英语": "en",
    "eng": "en",
    "japanese": "ja",
    "jpn": "ja",
    "korean": "ko",
    "kor": "ko",
}
_TAG = re.compile(r"^[a-z]{2,3}$")


def normalise(tag: object) -> str | None:
    """``zh-CN``, ``zh_Hans``, ``ZH``, ``Chinese`` → ``zh``; ``en-US`` → ``en``; junk → None."""
    if not isinstance(tag, str):
        return None
    text = tag.strip().lower().replace("_", "-")
    if not text:
        return None
    if text in _ALIASES:
        return _ALIASES[text]
    primary = text.split("-", 1)[0]
    primary = _ALIASES.get(primary, primary)
    return primary if _TAG.match(primary) else None


def detect(text: str) -> str | None:
    """``zh``, ``ja``, ``ko`` or ``en`` by script; None when the text has no letters at all."""
    return detect_utf8(text.encode("utf-8", "surrogatepass")) if text else None


def detect_utf8(raw: bytes) -> str | None:
    """``detect`` for text already encoded as UTF-8 (the router has it at hand)."""
    if not raw:
        return None
    if raw.isascii():
        return "en" if _LATIN_ASCII.search(raw) else None
    latin = len(raw.translate(None, _NOT_LATIN))
    cjk = len(raw.translate(None, _NOT_CJK))
    if cjk == 0:
        return "en" if latin else None
    if cjk * CJK_WEIGHT < latin:
        return "en"
    if len(raw.translate(None, _NOT_HANGUL)) * 2 > cjk:
        return "ko"
    return "ja" if _KANA.search(raw) else "zh"
