"""Which language a customer writes in, cheaply enough to run on every message.

Routing only needs to tell scripts apart (Chinese vs English first of all), so this counts
characters by script instead of loading a language model. A CJK character carries about a
word, so a handful of Chinese characters outweighs the Latin letters of a product name
(``我的PayPal付款失败`` is Chinese; ``refund for order 退款`` is English).
"""

from __future__ import annotations

import re

# CJK unified ideographs (+ extension A, compatibility ideographs) and CJK punctuation.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff01-\uff0f]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
# One CJK character weighs as much as this many Latin letters.
CJK_WEIGHT = 3

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
    if not text:
        return None
    if text.isascii():
        return "en" if _LATIN.search(text) else None
    latin = len(_LATIN.findall(text))
    han = len(_HAN.findall(text))
    kana = len(_KANA.findall(text))
    hangul = len(_HANGUL.findall(text))
    cjk = han + kana + hangul
    if cjk == 0:
        return "en" if latin else None
    if cjk * CJK_WEIGHT < latin:
        return "en"
    if hangul > han + kana:
        return "ko"
    if kana:
        return "ja"
    return "zh"
