"""Turning the bytes of real mail into text.

Labels on Chinese mail are unreliable: mail marked ``gb2312`` routinely carries GBK or
GB18030 characters (Python's gb2312 codec then fails), Big5 mail carries HKSCS
characters, and a good share of mail labelled one way is really UTF-8. So each label is
widened to its superset, UTF-8 is tried when the label fails, and only then are the
undecodable bytes replaced — text is never lost because of a label.

Some charsets are written in 7-bit bytes that merely look like ASCII: ISO-2022-JP (the
usual Japanese mail charset), ISO-2022-KR, UTF-7 and HZ-GB-2312 (Chinese). Their label
is honoured even when every byte is ASCII, and an unlabelled ISO-2022 text is recognised
by its escape sequences; anything that does not decode under such a label stays ASCII.
"""

from __future__ import annotations

import codecs
import re

# Label → the codec that reads everything mail with that label actually contains.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "euc-cn": "gb18030",
    "euccn": "gb18030",
    "x-euc-cn": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "chinese": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "cp950": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "us-ascii": "cp1252",  # 8-bit bytes under an ASCII label are nearly always Windows-1252
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
}
# Labels that say nothing about the bytes.
_MEANINGLESS = {"", "unknown-8bit", "x-unknown", "unknown", "default", "x-user-defined", "8bit", "binary"}

CHINESE_CODECS = frozenset({"gb18030", "big5hkscs", "hz"})

# Codecs whose bytes are not ASCII's even when every byte is below 0x80, with the wider
# readings tried when the label's own codec fails (Japanese mail labelled ISO-2022-JP
# often carries JIS X 0212 or 2004 characters).
_NOT_ASCII = {
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_2"),
    "iso2022_jp_1": ("iso2022_jp_1", "iso2022_jp_2"),
    "iso2022_jp_2": ("iso2022_jp_2", "iso2022_jp_2004"),
    "iso2022_jp_2004": ("iso2022_jp_2004", "iso2022_jp_2"),
    "iso2022_jp_3": ("iso2022_jp_3", "iso2022_jp_2004"),
    "iso2022_jp_ext": ("iso2022_jp_ext", "iso2022_jp_2004"),
    "iso2022_kr": ("iso2022_kr",),
    "utf-7": ("utf-7",),
    "hz": ("hz",),
    "utf-16": ("utf-16",),
    "utf-16-le": ("utf-16-le",),
    "utf-16-be": ("utf-16-be",),
    "utf-32": ("utf-32",),
    "utf-32-le": ("utf-32-le",),
    "utf-32-be": ("utf-32-be",),
}
# ISO-2022 escape sequences that designate a Japanese or Korean character set: unlabelled
# 7-bit text carrying them is ISO-2022 (raw JIS in a Subject line, say).
_ISO2022_JP_ESCAPE = re.compile(rb"\x1b\$[@B]|\x1b\$\([DOPQ]|\x1b\(J")
_ISO2022_KR_ESCAPE = re.compile(rb"\x1b\$\)C")


def normalize_charset(label: str | None) -> str | None:
    """A codec name Python can use for this MIME charset label, or None if unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").split("*", 1)[0].lower()
    if name in _MEANINGLESS:
        return None
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, label: str | None = None) -> str:
    """Best-effort text of ``data`` labelled ``label``; never raises."""
    if not data:
        return ""
    codec = normalize_charset(label)
    if data.isascii():
        return _seven_bit(data, codec)
    if codec is not None:
        attempts = [codec] if codec == "utf-8" else [codec, "utf-8"]
    else:
        # Unlabelled 8-bit text: UTF-8 is unambiguous when it decodes; after that,
        # Chinese mail is the common case for this gateway.
        attempts = ["utf-8", "gb18030"]
    for name in attempts:
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode(codec or "cp1252", errors="replace")


def _seven_bit(data: bytes, codec: str | None) -> str:
    """ASCII bytes under ``codec``: read by that codec when it is not ASCII (or by the
    ISO-2022 variant their escape sequences name, unlabelled); else plain ASCII."""
    if codec is None or codec not in _NOT_ASCII:
        if _ISO2022_JP_ESCAPE.search(data):
            codec = "iso2022_jp"
        elif _ISO2022_KR_ESCAPE.search(data):
            codec = "iso2022_kr"
    for name in _NOT_ASCII.get(codec or "", ()):
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("ascii")


def text_to_bytes(value: str) -> bytes:
    """Recover the raw bytes the email parser kept as surrogate escapes."""
    return value.encode("utf-8", errors="surrogateescape")


_SURROGATE = re.compile("[\ud800-\udfff]")


def surrogate_free(value: str, *, readable: bool = False) -> str:
    """``value`` with the raw 8-bit bytes the email parser kept as surrogate escapes
    decoded: as UTF-8 when they are UTF-8, else as GB18030, else with replacement
    characters — or, with ``readable``, as ``decode_bytes`` reads unlabelled text (a
    Windows-1252 guess beats blanks in display text). Never raises, and the result never
    holds a surrogate: one cannot be encoded, so it fails storing, logging and sending.
    Addresses and Message-IDs use the default: a guessed character could make two
    different addresses one."""
    if _SURROGATE.search(value) is None:
        return value
    try:
        data = text_to_bytes(value)
    except UnicodeEncodeError:  # a surrogate that is not an escaped byte
        return _SURROGATE.sub("\ufffd", value)
    if readable:
        return decode_bytes(data)
    for codec in ("utf-8", "gb18030"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")
