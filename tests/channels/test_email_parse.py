"""Reading real mail: charsets, encoded words, HTML-only, nesting, broken input, quotes,
loop guards, DSNs, reply tokens. Pure functions, no servers."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.channels.email import EmailChannel
from gateway.channels.email.attachments import masked_text_attachment
from gateway.channels.email.autoreply import AutoReplyLimiter
from gateway.channels.email.charsets import decode_bytes
from gateway.channels.email.guards import guard_flags, is_system_address
from gateway.channels.email.headers import (
    decode_header_value,
    message_ids,
    parse_address,
    parse_address_list,
    thread_references,
)
from gateway.channels.email.html_text import html_to_text
from gateway.channels.email.parse import MAX_PARTS, ParsedMail, parse_mail
from gateway.channels.email.quotes import strip_quoted
from gateway.channels.email.send import reply_subject
from gateway.channels.email.tokens import ReplyTokens, derive_secret
from gateway.model import Attachment
from tests.channels.test_email_support import DOMAIN, FIXTURES, SUPPORT, fixture
from tests.helpers import gateway_config

_CONFIG = gateway_config(
    smtp={"enabled": False, "domains": [DOMAIN]},
    channels={"email": {"address": SUPPORT, "reply_token_secret": "parse-tests-0123"}},
)
assert _CONFIG.channels.email is not None
# Builds the InboundMessage of a parsed mail exactly as it would be stored (no SMTP, no sink).
_ADAPTER = EmailChannel(None, smtp=_CONFIG.smtp, email=_CONFIG.channels.email)  # type: ignore[arg-type]


def _strings(value: Any) -> Iterator[str]:
    """Every string in a parsed mail: fields, list items, dict keys and values, nested."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _strings(getattr(value, item.name))


def assert_storable(mail: ParsedMail) -> None:
    """No surrogate escape (raw 8-bit header bytes) left anywhere: the mail serialises as
    UTF-8, and so does the message the adapter builds from it."""
    for text in _strings(mail):
        assert not any("\ud800" <= c <= "\udfff" for c in text), repr(text)
    json.dumps(dataclasses.asdict(mail), ensure_ascii=False, default=str).encode("utf-8")
    message = _ADAPTER.inbound_message(
        mail,
        envelope_sender="customer@example.cn",
        recipients=[SUPPORT],
        flags=[],
        attachments=[Attachment(content_type=a.content_type, name=a.name, size=a.size) for a in mail.attachments],
    )
    message.model_dump_json().encode("utf-8")


def test_gb2312_labelled_gbk_subject_body_and_attachment_name_are_read_whole() -> None:
    mail = parse_mail(fixture("gbk_gb2312_subject.eml"))
    # 喆 and 镕 are GBK, not GB2312: Python's gb2312 codec would lose them.
    assert mail.subject == "关于退款的问题：王喆的账户被锁（镕）"
    assert (mail.from_name, mail.from_address) == ("王喆", "WangZhe@Example.CN")
    assert "我的名字是王喆" in mail.text and "\ufffd" not in mail.text
    assert mail.html is not None and "王喆" in mail.html
    assert [(a.name, a.content_type) for a in mail.attachments] == [("交易凭证.pdf", "application/pdf")]
    assert mail.attachments[0].data.startswith(b"%PDF-1.4")
    assert mail.language == "zh"


def test_big5_mail_is_decoded_and_outlook_history_is_recognised() -> None:
    mail = parse_mail(fixture("big5_outlook.eml"))
    assert mail.subject == "帳戶無法登入，請協助"
    assert mail.from_name == "陳小姐"
    assert "我的帳戶從今天早上開始無法登入" in mail.text
    assert mail.language == "zh-TW"
    new_part = strip_quoted(mail.text)
    assert new_part.endswith("陳小姐") and "寄件者" not in new_part and "請問您的帳號是" not in new_part


def test_html_only_newsletter_keeps_html_and_derives_clean_text() -> None:
    mail = parse_mail(fixture("html_newsletter.eml"))
    assert mail.html is not None and "<h1>" in mail.html
    assert mail.text_from_html
    assert "Wallet News & Updates — 三月" in mail.text
    assert "our fees drop to 0.1% this month." in mail.text
    assert "- Faster refunds" in mail.text
    assert "tracking" not in mail.text and "font-family" not in mail.text and "<" not in mail.text
    assert mail.subject == "Wallet News — March"


def test_iso_8859_1_html_only_reply_loses_the_gmail_quote_for_agents() -> None:
    mail = parse_mail(fixture("iso8859_html_only.eml"))
    assert mail.from_name == "Zoë Fauré" and mail.subject == "Re: Remboursement non reçu"
    assert "Le remboursement n'est pas arrivé." in mail.text
    assert (
        strip_quoted(mail.text) == "Bonjour,\n\nLe remboursement n'est pas arrivé. Pouvez-vous vérifier ?\n\nMerci, Zoë"
    )


def test_ten_levels_of_nesting_yield_the_text_and_the_attachment() -> None:
    mail = parse_mail(fixture("nested_10.eml"))
    assert mail.text == "Ten levels down: 我的提现一直在处理中。"
    assert [(a.name, a.content_type, a.size) for a in mail.attachments] == [("screenshot.png", "image/png", 108)]


def test_absurd_nesting_is_cut_short_not_crashed() -> None:
    levels = range(1000, 0, -1)
    opening = "".join(f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n' for n in levels)
    closing = "".join(f"--b{n}--\r\n" for n in reversed(levels))
    body = opening + "Content-Type: text/plain\r\n\r\ndeep text\r\n" + closing
    raw = ("Subject: deep\r\nMessage-ID: <deep@x>\r\n" + body).encode()
    mail = parse_mail(raw)
    assert mail.subject == "deep" and mail.message_id == "deep@x"
    assert mail.defects and mail.truncated
    assert [(a.name, a.content_type, a.data) for a in mail.attachments] == [("original.eml", "message/rfc822", raw)]


def test_many_parts_are_capped() -> None:
    parts = "".join(f"--b\r\nContent-Type: application/x-part; name=p{i}\r\n\r\nx\r\n" for i in range(MAX_PARTS + 50))
    raw = f'Subject: many\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n{parts}--b--\r\n'.encode()
    mail = parse_mail(raw)
    assert mail.truncated and len(mail.attachments) < MAX_PARTS


def test_broken_headers_keep_what_can_be_read() -> None:
    mail = parse_mail(fixture("broken_header.eml"))
    assert mail.from_address == "broken@example.com"
    assert mail.subject == "付款失败 退款"  # raw 8-bit UTF-8 followed by two encoded words
    assert mail.message_id == "broken-1@example.com"
    assert mail.date is None and "unreadable Date header" in mail.defects
    assert mail.text == "我的钱到哪里去了？"  # unknown charset label, base64 with junk after it
    assert [a.name for a in mail.attachments] == ["no-end.bin"]


def test_a_line_without_a_colon_between_headers_is_read_as_a_folded_line() -> None:
    raw = b"From: a@example.com\r\nSubject: hi\r\nthis is not a header\r\nMessage-ID: <late@x>\r\n\r\nbody\r\n"
    mail = parse_mail(raw)
    assert mail.subject == "hi this is not a header" and mail.message_id == "late@x" and mail.text == "body"


def test_encoded_words_split_inside_a_character_are_joined_before_decoding() -> None:
    data = "退款申请".encode("gbk")
    first, second = base64.b64encode(data[:3]).decode(), base64.b64encode(data[3:]).decode()
    assert decode_header_value(f"=?GBK?B?{first}?=\r\n =?GBK?B?{second}?=") == "退款申请"
    assert decode_header_value("=?utf-8?q?caf=C3=A9_ok?= plain") == "café ok plain"
    assert decode_header_value("=?big5?B?" + base64.b64encode("繁體".encode("big5")).decode() + "?=") == "繁體"
    assert decode_header_value("=?iso-8859-2?Q?=A3=F3d=BC?=") == "Łódź"
    assert decode_header_value("=?gb18030?B?" + base64.b64encode("𠀀".encode("gb18030")).decode() + "?=") == "𠀀"


def test_charset_fallbacks() -> None:
    assert decode_bytes("镕".encode("gbk"), "gb2312") == "镕"
    assert decode_bytes("恒生銀行".encode("big5hkscs"), "big5") == "恒生銀行"
    assert decode_bytes("已付款".encode(), "gb2312") == "已付款"  # mislabelled UTF-8
    assert decode_bytes("付款".encode("gbk"), None) == "付款"  # unlabelled GBK
    assert decode_bytes(b"caf\xe9", "us-ascii") == "café"
    assert decode_bytes(b"\xff\xfe\xfd", "utf-8").count("\ufffd") == 3


def test_addresses_with_encoded_names_in_quotes_and_without_brackets() -> None:
    name = base64.b64encode("张伟".encode("gbk")).decode()
    assert parse_address(f'"=?gb2312?B?{name}?=" <zw@example.cn>') == ("张伟", "zw@example.cn")
    assert parse_address("plain@example.com") == (None, "plain@example.com")
    assert parse_address("Broken <<x@example.com")[1] == "x@example.com"
    assert parse_address("nobody here") == (None, None)


def test_raw_8bit_addresses_and_message_ids_are_decoded_utf8_then_gb18030_then_replaced() -> None:
    raw = (
        "From: 张三 <张三@例子.中国>\r\nTo: 客服 <客服@support.example.com>, 李四@例子.中国\r\n"
        "Cc: 王五 <王五@例子.中国>\r\nSubject: 退款\r\nMessage-ID: <客服@x>\r\nIn-Reply-To: <回复@x>\r\n"
        "References: <a@x> <引用@x>\r\nDelivered-To: 客服@support.example.com\r\n\r\n你好\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert (mail.from_name, mail.from_address) == ("张三", "张三@例子.中国")
    assert mail.to == ["客服@support.example.com", "李四@例子.中国"] and mail.cc == ["王五@例子.中国"]
    assert mail.delivered_to == ["客服@support.example.com"]
    assert (mail.message_id, mail.in_reply_to, mail.thread_refs) == ("客服@x", ["回复@x"], ["回复@x", "引用@x", "a@x"])
    assert mail.subject == "退款" and mail.headers["message-id"] == ["<客服@x>"]
    assert_storable(mail)

    gbk = parse_mail("From: 张三 <张三@例子.中国>\r\nMessage-ID: <客服@x>\r\n\r\nhi\r\n".encode("gbk"))
    assert (gbk.from_name, gbk.from_address, gbk.message_id) == ("张三", "张三@例子.中国", "客服@x")
    assert_storable(gbk)

    neither = parse_mail(
        b"From: Zo\xeb <zo\xff@example.fr>\r\nTo: a\x80@x.cn\r\nMessage-ID: <\xff\xfe@x>\r\n\r\nhi\r\n"
    )
    assert neither.from_name == "Zoë"  # display text: a Windows-1252 guess beats a blank
    assert neither.from_address == "zo\ufffd@example.fr" and neither.to == ["a\ufffd@x.cn"]
    assert neither.message_id == "\ufffd\ufffd@x"
    assert_storable(neither)


def test_header_readers_never_return_surrogates() -> None:
    escaped = "客服@例子.中国".encode().decode("ascii", "surrogateescape")
    assert parse_address(f"<{escaped}>") == (None, "客服@例子.中国")
    assert parse_address_list([f"x <{escaped}>", escaped]) == ["客服@例子.中国", "客服@例子.中国"]
    assert message_ids(f"<{escaped}> <{escaped}>") == ["客服@例子.中国"]


def test_fingerprint_ignores_what_servers_add_and_tells_different_mails_apart() -> None:
    trace = b"Received: from mx1.example.net by mx2.example.net; Mon, 4 Mar 2024 10:00:00 +0800\r\n"
    trace += b"Delivered-To: support@support.example.com\r\nDKIM-Signature: v=1; a=rsa-sha256; b=abc\r\n"
    for name in ("gbk_gb2312_subject.eml", "big5_outlook.eml", "dsn_bounce.eml"):
        raw = fixture(name)
        assert parse_mail(raw).fingerprint == parse_mail(trace + raw).fingerprint, name
    base = parse_mail(fixture("gbk_gb2312_subject.eml")).fingerprint
    assert parse_mail(fixture("gbk_gb2312_subject.eml").replace(b"/z9/v8=", b"/z9/v4=")).fingerprint != base
    # Mail only the fallback reader takes keeps the raw mail as an attachment: its body counts, not its headers.
    deep = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n) for n in range(40))
    deep = b"Subject: deep\r\nMessage-ID: <deep@x>\r\n" + deep + b"Content-Type: text/plain\r\n\r\ndeep text\r\n"
    fallback = parse_mail(deep)
    assert fallback.truncated and fallback.attachments[0].whole_mail
    assert parse_mail(trace + deep).fingerprint == fallback.fingerprint
    assert parse_mail(deep.replace(b"deep text", b"other text")).fingerprint != fallback.fingerprint


def test_thread_references_order_in_reply_to_first_then_newest_reference() -> None:
    assert thread_references("<c@x>", "<a@x> <b@x>\r\n <c@x>") == ["c@x", "b@x", "a@x"]
    assert thread_references(None, "a@x b@x") == ["b@x", "a@x"]


def test_quotes_are_stripped_for_the_clients_customers_use() -> None:
    cases = {
        "Thanks!\n\nOn Mon, 4 Mar 2024 at 10:00, Support <s@x.com>\nwrote:\n> old": "Thanks!",
        "好的\n\n在 2024年3月4日，上午10:00，客服 <s@x.com> 写道：\n> 旧内容": "好的",
        "收到\n\n------------------ 原始邮件 ------------------\n发件人: x": "收到",
        "OK\n-----Original Message-----\nFrom: x": "OK",
        "好\n\n---- 回复的原邮件 ----\n| 发件人 | x |": "好",
        "Fine\n\nFrom: Support <s@x.com>\nSent: Monday\nTo: me\nSubject: Re: x\n\nold": "Fine",
        "是的\n\n发件人：客服\n发送时间：2024年3月4日\n收件人：我\n主题：回复\n\n旧": "是的",
        "answer\n\n> quoted line\n> another\n": "answer",
    }
    for text, expected in cases.items():
        assert strip_quoted(text) == expected, text
    inline = "> question one\nanswer one\n> question two\nanswer two"
    assert strip_quoted(inline) == inline
    assert strip_quoted("> only a quote") == "> only a quote"  # nothing new: keep it all
    forwarded = "see below\n---------- Forwarded message ---------\nFrom: bank\nDate: x\nSubject: receipt\nTo: me"
    assert "Forwarded message" in strip_quoted(forwarded) or "From: bank" not in strip_quoted(forwarded)


def test_html_blockquotes_become_quotes() -> None:
    text = html_to_text("<p>new</p><blockquote><p>old</p><blockquote>older</blockquote></blockquote><head>")
    assert text.splitlines() == ["new", "> old", "> > older"]
    assert html_to_text("<html><head><title>t</title><body><p>unclosed head</p>") == "unclosed head"


def test_loop_guards_flag_every_kind_of_machine_mail() -> None:
    def flags(
        headers: dict[str, str], sender: str | None = "a@b.com", content_type: str = "text/plain", frm: str = "a@b.com"
    ) -> list[str]:
        return guard_flags(
            {k.lower(): [v] for k, v in headers.items()},
            content_type=content_type,
            envelope_sender=sender,
            from_address=frm,
        )

    assert flags({}) == []
    assert flags({"Auto-Submitted": "no"}) == []
    assert "auto-submitted" in flags({"Auto-Submitted": "auto-replied"})
    assert "auto-submitted" in flags({"Auto-Submitted": "auto-generated; owner-email=x"})
    assert "null-sender" in flags({}, sender="<>") and "null-sender" in flags({}, sender="")
    assert "null-sender" in flags({"Return-Path": "< >"})
    assert "report" in flags({}, content_type="multipart/report")
    for value in ("bulk", "junk", "list", "Bulk"):
        assert f"precedence-{value.lower()}" in flags({"Precedence": value})
    assert "mailing-list" in flags({"List-Unsubscribe": "<mailto:x>"}) and "mailing-list" in flags({"List-Id": "x"})
    assert "x-autoreply" in flags({"X-Autoreply": "yes"}) and "x-autoreply" in flags({"X-Autorespond": "1"})
    for address in ("MAILER-DAEMON@x.com", "owner-list@x.com", "list-request@x.com", "postmaster@x.com"):
        assert "system-sender" in flags({}, frm=address), address
        assert is_system_address(address)
    assert not is_system_address("requester@x.com") and not is_system_address("owner@x.com")
    assert flags({"Precedence": "bulk"})[0] == "loop-guard"


def test_dsn_names_our_message_and_the_diagnostic() -> None:
    mail = parse_mail(fixture("dsn_bounce.eml", ORIGINAL_MESSAGE_ID="msg_1.cv_1.tag@support.example.com"))
    assert mail.report is not None and mail.report.failed
    assert mail.report.original_message_ids == ["msg_1.cv_1.tag@support.example.com"]
    assert "550 5.1.1" in mail.report.diagnostic and "User unknown" in mail.report.diagnostic
    assert mail.report.recipients == ["nobody@example.cn"]


def test_a_delayed_dsn_is_not_a_failure() -> None:
    raw = fixture("dsn_bounce.eml", ORIGINAL_MESSAGE_ID="m@x").replace(b"Action: failed", b"Action: delayed")
    mail = parse_mail(raw)
    assert mail.report is not None and not mail.report.failed


def test_reply_tokens_verify_and_refuse_forgeries() -> None:
    tokens = ReplyTokens(b"k" * 32)
    conv = "cv_01HX3Z9Q7T5D0000000000ABCD"
    address = tokens.reply_address("support@support.example.com", conv)
    assert address.startswith("support+cv_01hx3z9q7t5d0000000000abcd.") and address.endswith("@support.example.com")
    assert len(address.split("@")[0]) <= 64
    assert tokens.conversation_from_address(address) == conv
    assert tokens.conversation_from_address(address.upper()) == conv  # a mail system that upper-cases
    other = ReplyTokens(b"x" * 32)
    assert other.conversation_from_address(address) is None
    forged = address.replace("abcd.", "abce.")
    assert tokens.conversation_from_address(forged) is None
    mid = tokens.message_id("msg_01ABC", conv, "support.example.com")
    assert tokens.conversation_from_message_id(mid) == conv
    assert tokens.conversation_from_message_id("random@example.com") is None
    assert "k" * 8 not in repr(tokens)
    assert derive_secret(None, ["api-secret"]) != b"api-secret" and derive_secret("own", ["x"]) == b"own"


def test_reply_subject_never_doubles_re() -> None:
    assert reply_subject("Payment failed") == "Re: Payment failed"
    assert reply_subject("Re: Payment failed") == "Re: Payment failed"
    assert reply_subject("RE: re:Payment") == "Re: Payment"
    assert reply_subject("回复：付款问题") == "Re: 付款问题"
    assert reply_subject("Fwd: receipt") == "Re: Fwd: receipt"
    assert reply_subject(None) == "Re: your message"


def test_auto_reply_limiter_counts_per_address_and_message() -> None:
    now = [1000.0]
    limiter = AutoReplyLimiter(limit=2, window=3600, clock=lambda: now[0])
    assert limiter.acquire("A@x.com", "m1") and limiter.acquire("a@x.com", "m1")  # a retry counts once
    assert limiter.acquire("a@x.com", "m2")
    assert not limiter.would_allow("a@x.com") and not limiter.acquire("a@x.com", "m3")
    assert limiter.would_allow("b@x.com")
    assert not limiter.would_allow("b@x.com", ["loop-guard", "auto-submitted"])
    assert not limiter.acquire("mailer-daemon@x.com", "m4")
    now[0] += 3601
    assert limiter.acquire("a@x.com", "m3")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_fuzz_random_bytes_never_raise(raw: bytes) -> None:
    mail = parse_mail(raw)
    assert isinstance(mail.text, str)
    assert_storable(mail)


_FIXTURE_BYTES = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_FIXTURE_BYTES),
    st.lists(st.tuples(st.integers(min_value=0, max_value=4000), st.binary(min_size=0, max_size=8)), max_size=6),
)
def test_fuzz_mutated_real_mail_never_raises(raw: bytes, edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(raw)
    for position, chunk in edits:
        at = position % (len(data) + 1)
        data[at : at + len(chunk)] = chunk
    mail = parse_mail(bytes(data))
    strip_quoted(mail.text)
    guard_flags(mail.headers, content_type=mail.content_type, envelope_sender=None, from_address=mail.from_address)
    assert_storable(mail)


_WORDS = ["张三", "客服", "例子.中国", "退款申请", "Zoë", "Ångström", "陳小姐", "镕"]
# Pieces of raw header values: structure, words in UTF-8, GBK, Big5 and Latin-1, and
# arbitrary bytes (never CR or LF, so every piece stays inside its header).
_PIECE = st.one_of(
    st.sampled_from([b"<", b">", b"@", b'"', b",", b" ", b".", b"=?utf-8?B?", b"=?gbk?Q?", b"?=", b"=E5", b"\t"]),
    st.builds(
        lambda word, codec: word.encode(codec, "replace"),
        st.sampled_from(_WORDS),
        st.sampled_from(["utf-8", "gbk", "big5", "latin-1"]),
    ),
    st.binary(min_size=1, max_size=6).map(lambda b: b.replace(b"\r", b"\x80").replace(b"\n", b"\xff")),
)
_RAW_VALUE = st.lists(_PIECE, max_size=12).map(b"".join)
_RAW_HEADERS = ["From", "Sender", "To", "Cc", "Delivered-To", "Message-ID", "In-Reply-To", "References", "Subject",
                "Content-Language", "Auto-Submitted", "List-Id", "Date"]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_RAW_HEADERS), _RAW_VALUE), min_size=1, max_size=10), _RAW_VALUE)
def test_fuzz_raw_8bit_headers_leave_no_surrogate_in_the_parsed_mail(
    headers: list[tuple[str, bytes]], body: bytes
) -> None:
    raw = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers) + b"\r\n" + body + b"\r\n"
    assert_storable(parse_mail(raw))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_header_decoding_never_raises(value: str) -> None:
    decode_header_value(value)
    parse_address(value)
    thread_references(value, value)


@pytest.mark.parametrize(
    ("data", "content_type", "charset", "expected"),
    [
        (b'{"card": "4111-1111-1111-1111"}', "application/json", None, b'{"card": "****-****-****-1111"}'),
        ("卡 4111111111111111".encode("big5"), "text/plain", "big5", "卡 ************1111".encode("big5")),
        ("卡 4111111111111111".encode("gb18030"), "text/plain", None, "卡 ************1111".encode("gb18030")),
        (b"no card 4111111111111112 here", "text/plain", "us-ascii", b"no card 4111111111111112 here"),  # not Luhn
        ("GBK 卡 4111111111111111".encode("gbk"), "text/csv", "utf-8", "GBK 卡 ************1111".encode("gbk")),
        (b"\xff\xfe\xfd 4111111111111111", "text/plain", "utf-8", b"\xff\xfe\xfd 4111111111111111"),  # not text
        (b"4111111111111111", "image/png", None, b"4111111111111111"),
        (b"", "text/plain", None, b""),
    ],
)
def test_text_attachments_are_masked_in_their_own_charset(
    data: bytes, content_type: str, charset: str | None, expected: bytes
) -> None:
    assert masked_text_attachment(data, content_type, charset) == expected
