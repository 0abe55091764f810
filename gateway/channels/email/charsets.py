"""Turning the bytes of real mail into text.

Labels on Chinese mail are unreliable: mail marked ``gb2312`` routinely carries GBK or
GB18030 characters (Python's gb2312 codec then fails), Big5 mail carries HKSCS
characters, and a good share of mail labelled one way is really UTF-8. So each label is
widened to its superset, UTF-8 is tried when the label fails, and only then are the
undecodable bytes replaced — text is never lost because of a label.
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
    if data.isascii():
        return data.decode("ascii")
    codec = normalize_charset(label)
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
