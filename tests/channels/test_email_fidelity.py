"""Mail as other mail systems write it reaches the agent readable: 7-bit charsets,
the visible text of every MIME shape, lenient encoded words, broken header blocks and
either line-end convention. Pure parsing; the gateway-level checks are in
``test_email_gateway``."""

from __future__ import annotations

import base64
import quopri

from gateway.channels.email.charsets import decode_bytes
from gateway.channels.email.headers import decode_header_value, parse_address
from gateway.channels.email.parse import parse_mail
from gateway.model import Attachment
from tests.channels.test_email_parse import _ADAPTER


def jis_word(text: str) -> str:
    """An encoded word as Japanese mailers write it: ISO-2022-JP, base64."""
    return "=?ISO-2022-JP?B?" + base64.b64encode(text.encode("iso2022_jp")).decode() + "?="


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("ascii")


# 1. 7-bit charsets ---------------------------------------------------------------------


def test_iso_2022_jp_subject_body_and_display_name_are_decoded() -> None:
    body = "お世話になっております。\nメルマガの配信を停止してください。\n山田"
    raw = crlf(
        f"From: {jis_word('山田 太郎')} <yamada@example.jp>\n"
        "To: support@support.example.com\n"
        f"Subject: {jis_word('メルマガ解除')}\n"
        f" {jis_word('のお願い')}\n"
        "Date: Tue, 05 Mar 2024 09:12:44 +0900\n"
        "Message-ID: <20240305091244.4F2A.yamada@example.jp>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=ISO-2022-JP\n"
        "Content-Transfer-Encoding: 7bit\n\n"
    ) + body.replace("\n", "\r\n").encode("iso2022_jp")
    mail = parse_mail(raw)
    assert mail.subject == "メルマガ解除のお願い"
    assert (mail.from_name, mail.from_address) == ("山田 太郎", "yamada@example.jp")
    assert mail.text == body
    assert "\x1b" not in mail.text and "$B" not in mail.text


def test_raw_jis_without_encoded_words_is_recognised_by_its_escapes() -> None:
    subject = "ご注文の件".encode("iso2022_jp").decode("ascii")
    raw = crlf(f"From: a@example.jp\nSubject: {subject}\nContent-Type: text/plain\n\nhello\n")
    assert parse_mail(raw).subject == "ご注文の件"


def test_utf7_and_hz_gb_2312_bodies_honour_their_labels() -> None:
    utf7 = "请帮我退款，订单 2024-118。".encode("utf-7").decode("ascii")
    raw = crlf(f"From: a@example.cn\nSubject: x\nContent-Type: text/plain; charset=UTF-7\n\n{utf7}\n")
    assert parse_mail(raw).text == "请帮我退款，订单 2024-118。"
    hz = "付款失败，请尽快处理。".encode("hz").decode("ascii")
    raw = crlf(f'From: a@example.cn\nSubject: x\nContent-Type: text/plain; charset="HZ-GB-2312"\n\n{hz}\n')
    mail = parse_mail(raw)
    assert mail.text == "付款失败，请尽快处理。" and mail.language == "zh"


def test_a_7bit_label_that_does_not_fit_the_bytes_leaves_them_as_ascii() -> None:
    assert decode_bytes(b"cost: 1+1=2 ~/x", "utf-7") == "cost: 1+1=2 ~/x"
    assert decode_bytes(b"a ~ b", "hz-gb-2312") == "a ~ b"
    assert decode_bytes(b"plain text", "iso-2022-jp") == "plain text"


# 2. the visible text of the whole mail --------------------------------------------------


def alternative(plain: str, html: str, *, boundary: str = "alt") -> str:
    return (
        f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n'
        f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{plain}\n"
        f"--{boundary}\nContent-Type: text/html; charset=utf-8\n\n{html}\n"
        f"--{boundary}--\n"
    )


def test_an_empty_plain_alternative_beside_real_html_gives_the_html_text() -> None:
    html = "<html><body><p>My card was charged twice for order 8812.</p><p>Please refund one.</p></body></html>"
    raw = crlf("From: a@example.com\nSubject: charged twice\nMIME-Version: 1.0\n" + alternative("", html))
    mail = parse_mail(raw)
    assert mail.text == "My card was charged twice for order 8812.\nPlease refund one."
    assert mail.text_from_html and mail.html is not None and "8812" in mail.html


def test_a_stub_plain_alternative_gives_way_to_the_html() -> None:
    html = (
        "<div>您好，</div><div>我的账户被锁定了，无法登录。手机号 138****8000，"
        "昨天晚上开始就收不到验证码，请帮忙尽快解锁，谢谢！</div><div>李明</div>"
    )
    stub = "This is an HTML email. Please view it in an HTML capable client."
    raw = ("From: a@example.cn\nSubject: x\n" + alternative(stub, html)).replace("\n", "\r\n").encode()
    mail = parse_mail(raw)
    assert "账户被锁定" in mail.text and "李明" in mail.text and "HTML email" not in mail.text


def test_a_full_plain_alternative_is_what_the_agent_reads() -> None:
    plain = "Hello,\nmy transfer of 500 EUR is still pending.\nRegards, Anna"
    html = "<p>Hello,<br>my transfer of <b>500 EUR</b> is still pending.</p><p>Regards, Anna</p>"
    mail = parse_mail(crlf("From: a@example.de\nSubject: x\n" + alternative(plain, html)))
    assert mail.text == plain and not mail.text_from_html


def test_html_followed_by_a_text_signature_part_reads_as_both() -> None:
    raw = crlf(
        "From: b@example.com\nSubject: refund\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="mix"\n\n'
        "--mix\nContent-Type: text/html; charset=us-ascii\n\n"
        "<html><body><p>The refund for <b>invoice 2231</b> never arrived.</p></body></html>\n"
        "--mix\nContent-Type: text/plain; charset=us-ascii\nContent-Disposition: inline\n\n"
        "--\nBob Example | Example Ltd\n"
        "--mix--\n"
    )
    mail = parse_mail(raw)
    assert mail.text == "The refund for invoice 2231 never arrived.\n--\nBob Example | Example Ltd"


def test_inline_parts_around_an_image_join_in_order_and_the_image_stays_an_attachment() -> None:
    # Apple Mail: text, an inline picture, more text — three parts of one message.
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
    raw = crlf(
        "From: c@example.com\nSubject: screenshot\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="apple"\n\n'
        "--apple\nContent-Type: text/plain; charset=us-ascii\n\nThe app shows this error:\n"
        "--apple\nContent-Type: image/png; name=error.png\nContent-Disposition: inline; filename=error.png\n"
        f"Content-Transfer-Encoding: base64\n\n{png}\n"
        "--apple\nContent-Type: text/plain; charset=us-ascii\n\nand then closes. Any idea?\n"
        "--apple--\n"
    )
    mail = parse_mail(raw)
    assert mail.text == "The app shows this error:\nand then closes. Any idea?"
    assert [(a.name, a.inline) for a in mail.attachments] == [("error.png", True)]


def test_a_list_footer_after_an_alternative_is_kept_after_the_chosen_text() -> None:
    raw = crlf(
        "From: d@example.org\nSubject: x\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="outer"\n\n'
        "--outer\n"
        + alternative("Where is my payout?", "<p>Where is my <i>payout</i>?</p>", boundary="inner")
        + "--outer\nContent-Type: text/plain; charset=utf-8\nContent-Disposition: inline\n\n"
        "_______________\nsupport-list mailing list\n--outer--\n"
    )
    mail = parse_mail(raw)
    assert mail.text == "Where is my payout?\n_______________\nsupport-list mailing list"


def test_related_html_with_cid_images_reads_the_html() -> None:
    raw = crlf(
        "From: e@example.com\nSubject: x\nMIME-Version: 1.0\n"
        'Content-Type: multipart/related; boundary="rel"\n\n'
        '--rel\nContent-Type: text/html; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n\n'
        + quopri.encodestring(b'<p>See the receipt below:</p><img src="cid:r1" alt="receipt">').decode()
        + "\n--rel\nContent-Type: image/jpeg\nContent-ID: <r1>\nContent-Transfer-Encoding: base64\n\n/9j/4AAQ\n"
        "--rel--\n"
    )
    mail = parse_mail(raw)
    assert mail.text == "See the receipt below:\nreceipt" and len(mail.attachments) == 1


# 3. encoded words as mail clients read them ---------------------------------------------


def test_encoded_words_with_spaces_and_utf7_words_are_decoded() -> None:
    assert decode_header_value("=?UTF-8?Q? Personal=C3=A4nderung?=") == "Personaländerung"
    assert decode_header_value("=?us-ascii?Q?ABC / 123?=") == "ABC / 123"
    assert decode_header_value("Re: =?UTF-8?Q?Konto gesperrt?= =?UTF-8?Q?_bitte_pr=C3=BCfen?=") == (
        "Re: Konto gesperrt bitte prüfen"
    )
    utf7 = "退款".encode("utf-7").decode("ascii")
    assert decode_header_value(f"=?UTF-7?Q?{utf7}?=") == "退款"
    assert decode_header_value("=?utf-8?B?5Lu Y5qy+?=") == "付款"  # base64 with a stray space
    assert parse_address("=?UTF-8?Q?Hans M=C3=BCller?= <hans@example.de>") == ("Hans Müller", "hans@example.de")


# 4. broken header blocks ----------------------------------------------------------------


def test_a_folded_line_without_whitespace_keeps_the_headers_after_it() -> None:
    text = base64.b64encode("您好，我的提现一直没有到账，请帮忙查询。".encode()).decode()
    raw = crlf(
        "Subject: =?UTF-8?B?" + base64.b64encode("提现未到账".encode()).decode() + "?=\n"
        "=?UTF-8?B?" + base64.b64encode("（紧急）".encode()).decode() + "?=\n"
        "From: =?UTF-8?B?" + base64.b64encode("王芳".encode()).decode() + "?= <wangfang@example.cn>\n"
        "Message-ID: <fold-1@example.cn>\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n" + text + "\n"
    )
    mail = parse_mail(raw)
    assert mail.subject == "提现未到账（紧急）"
    assert (mail.from_name, mail.from_address) == ("王芳", "wangfang@example.cn")
    assert mail.message_id == "fold-1@example.cn"
    assert mail.text == "您好，我的提现一直没有到账，请帮忙查询。"
    assert "a folded header line without leading whitespace" in mail.defects


def test_a_stray_line_before_the_headers_is_set_aside_not_read_as_body() -> None:
    raw = crlf(
        "Microsoft Mail Internet Headers Version 2.0\n"
        "From: Carol <carol@example.com>\nSubject: locked account\nMessage-ID: <first-1@example.com>\n"
        "Content-Type: text/plain; charset=us-ascii\n\nI cannot log in since Monday.\n"
    )
    mail = parse_mail(raw)
    assert (mail.from_address, mail.subject, mail.text) == (
        "carol@example.com",
        "locked account",
        "I cannot log in since Monday.",
    )
    assert any("Microsoft Mail Internet Headers" in d for d in mail.defects)
    blank_first = parse_mail(b"\r\nFrom: dave@example.com\r\nSubject: hi\r\n\r\nbody text\r\n")
    assert (blank_first.from_address, blank_first.subject, blank_first.text) == ("dave@example.com", "hi", "body text")


def test_a_space_before_the_colon_still_names_a_header() -> None:
    mail = parse_mail(b"Subject : card declined\r\nFrom : erin@example.com\r\n\r\nbody\r\n")
    assert (mail.subject, mail.from_address, mail.text) == ("card declined", "erin@example.com", "body")


def test_of_two_from_headers_the_usable_one_is_the_sender() -> None:
    raw = b"From: <>\r\nFrom: Frank <frank@example.com>\r\nSubject: x\r\n\r\nhello\r\n"
    assert parse_mail(raw).from_address == "frank@example.com"
    raw = b"From: undisclosed-recipients\r\nFrom: grace@example.com\r\nSubject: x\r\n\r\nhello\r\n"
    assert parse_mail(raw).from_address == "grace@example.com"
    both = b"From: Heidi <heidi@example.com>\r\nFrom: Ivan <ivan@example.com>\r\nSubject: x\r\n\r\nhi\r\n"
    assert parse_mail(both).from_address == "heidi@example.com"  # the first usable one


def test_a_line_that_no_header_follows_starts_the_body_as_before() -> None:
    raw = b"From: a@example.com\r\nSubject: hi\r\nthis is the body already\r\nmore body\r\n"
    mail = parse_mail(raw)
    assert mail.subject == "hi" and "this is the body already" in mail.text and "more body" in mail.text


# 5. line ends ----------------------------------------------------------------------------


def test_bare_lf_and_crlf_copies_of_one_mail_have_one_fingerprint() -> None:
    text = (
        "From: Judy <judy@example.com>\nTo: support@support.example.com\nSubject: twice\n"
        "Message-ID: <lf-1@example.com>\nDate: Mon, 04 Mar 2024 10:00:00 +0000\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="m"\n\n'
        "--m\n"
        + alternative("line one\nline two", "<p>line one<br>\nline two</p>")
        + "--m\nContent-Type: text/plain; name=log.txt\nContent-Disposition: attachment; filename=log.txt\n\n"
        "error 1\nerror 2\n--m--\n"
    )
    lf, crlf_copy = parse_mail(text.encode()), parse_mail(crlf(text))
    assert lf.fingerprint == crlf_copy.fingerprint
    assert lf.text == crlf_copy.text == "line one\nline two"
    assert lf.html == crlf_copy.html


# what the agent sees ----------------------------------------------------------------------


def test_a_mail_of_attachments_alone_reads_as_lines_naming_them() -> None:
    pdf = base64.b64encode(b"%PDF-1.4 statement").decode()
    raw = crlf(
        "From: k@example.com\nSubject: \nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="only"\n\n'
        "--only\nContent-Type: application/pdf; name=statement.pdf\nContent-Disposition: attachment; filename=statement.pdf\n"
        f"Content-Transfer-Encoding: base64\n\n{pdf}\n--only--\n"
    )
    mail = parse_mail(raw)
    attachments = [Attachment(content_type=a.content_type, name=a.name, size=a.size) for a in mail.attachments]
    message = _ADAPTER.inbound_message(mail, envelope_sender=None, recipients=[], flags=[], attachments=attachments)
    assert message.text == "[document: statement.pdf]" and "full_text" not in message.meta["email"]
