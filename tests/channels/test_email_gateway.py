"""The email channel end to end: a real SMTP client against the running gateway's SMTP
server, a real local SMTP relay for replies, over the in-memory store and real Redis."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.channels.email import EmailChannel
from gateway.model import Channel
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import Store
from gateway.wiring.services import SERVICES
from tests.channels.test_email_support import (
    DOMAIN,
    SUPPORT,
    RelaySink,
    fixture,
    make_certificate,
    simple_mail,
    smtp_send,
    start_relay,
)
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, auth, gateway_config, signed_api_body

MAX_BYTES = 200_000
TOKEN_SECRET = "email-token-secret-for-tests"


@dataclass
class Gateway:
    client: TestClient
    adapter: EmailChannel
    port: int
    attachments: Path


@pytest.fixture
async def relay() -> AsyncIterator[RelaySink]:
    sink = await start_relay(RelaySink())
    yield sink
    sink.server.close()


def email_sections(relay_port: int | None, attachments: Path, **email_extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "address": SUPPORT,
        "from_name": "Wallet Support 客服",
        "reply_token_secret": TOKEN_SECRET,
        "attachments_dir": str(attachments),
        "max_attachment_bytes": 4096,
        **email_extra,
    }
    if relay_port is not None:
        section.setdefault("relay", {"host": "127.0.0.1", "port": relay_port, "starttls": False, "timeout": 5})
    return {
        "smtp": {"enabled": True, "host": "127.0.0.1", "port": 0, "domains": [DOMAIN], "max_message_bytes": MAX_BYTES},
        "channels": {"email": section},
    }


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def make_client(aiohttp_client: Any, store: Store, publisher: MemoryPublisher) -> Callable[..., Awaitable[TestClient]]:
    async def make(**sections: Any) -> TestClient:
        return await aiohttp_client(build_app(gateway_config(**sections), store=store, publisher=publisher))

    return make


@pytest.fixture
def make_gateway(
    make_client: Callable[..., Awaitable[TestClient]], relay: RelaySink, tmp_path: Path
) -> Callable[..., Awaitable[Gateway]]:
    async def make(**email_extra: Any) -> Gateway:
        attachments = tmp_path / "attachments"
        client = await make_client(**email_sections(relay.port, attachments, **email_extra))
        adapter = client.app[SERVICES].adapter_for(Channel.EMAIL)
        assert isinstance(adapter, EmailChannel) and adapter.smtp_port
        return Gateway(client=client, adapter=adapter, port=adapter.smtp_port, attachments=attachments)

    return make


@pytest.fixture
async def gw(make_gateway: Callable[..., Awaitable[Gateway]]) -> Gateway:
    return await make_gateway()


async def conversations(client: TestClient) -> list[dict[str, Any]]:
    listing = await (await client.get("/api/v1/conversations", headers=auth())).json()
    return [await conversation(client, c["id"]) for c in listing["conversations"]]


async def conversation(client: TestClient, cid: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/conversations/{cid}", headers=auth())
    assert resp.status == 200
    return await resp.json()


def mail_id(message: dict[str, Any]) -> str | None:
    """The Message-ID of a stored mail: its external_id is ``<Message-ID>#<digest>``."""
    external_id = message["external_id"]
    if message["direction"] != "inbound" or not external_id:
        return external_id
    return external_id.rsplit("#", 1)[0]


async def conversation_of(client: TestClient, message_id: str) -> dict[str, Any]:
    for conv in await conversations(client):
        if any(mail_id(m) == message_id for m in conv["messages"]):
            return conv
    raise AssertionError(f"no conversation holds {message_id}")


def message_of(conv: dict[str, Any], message_id: str) -> dict[str, Any]:
    return next(m for m in conv["messages"] if mail_id(m) == message_id)


async def deliver_ok(gw: Gateway, raw: bytes, **kw: Any) -> str:
    answer = await smtp_send(gw.port, raw, **kw)
    assert answer.data is not None and answer.data[0] == 250, answer
    return answer.data[1].decode()


def parse_sent(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


async def agent_reply(gw: Gateway, cid: str, text: str) -> dict[str, Any]:
    resp = await gw.client.post(f"/api/v1/conversations/{cid}/messages", json={"text": text}, headers=auth(ALICE_TOKEN))
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def status_of(gw: Gateway, cid: str, message_id: str) -> dict[str, Any]:
    conv = await conversation(gw.client, cid)
    return next(m for m in conv["messages"] if m["id"] == message_id)


# inbound ----------------------------------------------------------------------------


async def test_gbk_mail_is_stored_whole_with_agent_text_attachment_and_masked_card(gw: Gateway) -> None:
    reference = await deliver_ok(gw, fixture("gbk_gb2312_subject.eml"), mail_from="WangZhe@Example.CN")
    assert reference.startswith("2.0.0 OK queued as msg_")
    conv = await conversation_of(gw.client, "tencent_3A1F2B9C@qq.com")
    assert conv["channel"] == "email" and conv["endpoint"] == SUPPORT
    assert conv["subject"] == "关于退款的问题：王喆的账户被锁（镕）"
    assert conv["queue"] == "general" and conv["reply_tracking"]["state"] == "active"
    message = message_of(conv, "tencent_3A1F2B9C@qq.com")
    assert message["sender"]["id"] == "email:wangzhe@example.cn" and message["sender"]["name"] == "王喆"
    assert message["text"].startswith("您好：") and message["text"].endswith("王喆")
    assert "原始邮件" not in message["text"]  # quoted history is not for the agent ...
    assert "原始邮件" in message["meta"]["email"]["full_text"]  # ... but kept
    assert "6222 0212 3456 7890 128" not in json.dumps(conv, ensure_ascii=False)
    assert "**** **** **** ***0 128" in message["text"]
    assert message["html"] and "王喆" in message["html"]
    (attachment,) = message["attachments"]
    assert (attachment["name"], attachment["content_type"], attachment["size"]) == (
        "交易凭证.pdf",
        "application/pdf",
        1058,
    )
    stored = (gw.attachments / attachment["storage_key"]).read_bytes()
    assert stored.startswith(b"%PDF-1.4") and len(stored) == 1058
    contact = conv["contact"]
    assert contact["name"] == "王喆" and contact["identities"] == [{"kind": "email", "value": "wangzhe@example.cn"}]


async def test_big5_and_latin1_html_only_mails_are_readable(gw: Gateway) -> None:
    await deliver_ok(gw, fixture("big5_outlook.eml"))
    await deliver_ok(gw, fixture("iso8859_html_only.eml"))
    big5 = message_of(
        await conversation_of(gw.client, "TY0PR01MB5555.apcprd01.prod.exchangelabs.com"),
        "TY0PR01MB5555.apcprd01.prod.exchangelabs.com",
    )
    assert big5["subject"] == "帳戶無法登入，請協助" and big5["sender"]["name"] == "陳小姐"
    assert "請協助重設" in big5["text"] and "寄件者" not in big5["text"]
    latin = message_of(await conversation_of(gw.client, "CAF=zoe123@mail.gmail.com"), "CAF=zoe123@mail.gmail.com")
    assert latin["text"].endswith("Merci, Zoë") and "wrote:" not in latin["text"]
    assert latin["html"].startswith('<div dir="ltr">Bonjour')
    assert latin["meta"]["email"]["text_from_html"] is True


async def test_html_newsletter_is_stored_flagged_and_never_offered(gw: Gateway, publisher: MemoryPublisher) -> None:
    await deliver_ok(gw, fixture("html_newsletter.eml"), mail_from="bounces+123@news.example.com")
    conv = await conversation_of(gw.client, "newsletter-2024-03.123@news.example.com")
    message = conv["messages"][0]
    assert {"loop-guard", "precedence-bulk", "mailing-list"} <= set(message["flags"])
    assert "<h1>Wallet News &amp; Updates" in message["html"] and "- Faster refunds" in message["text"]
    assert conv["queue"] is None and conv["reply_tracking"]["state"] == "none"
    assert await gw.client.app[SERVICES].relay.drain(30)  # all the mail wrote is published by now
    assert [e.routing_key for e in publisher.events] == ["conversation.opened", "message.inbound"]
    assert all(not items for items in publisher.queues.values())  # and no offer among it


async def test_out_of_office_reply_is_flagged_and_neither_joins_nor_reopens_the_thread(gw: Gateway) -> None:
    await deliver_ok(gw, fixture("gbk_gb2312_subject.eml"))
    original = await conversation_of(gw.client, "tencent_3A1F2B9C@qq.com")
    resolved = await gw.client.post(f"/api/v1/conversations/{original['id']}/resolve", headers=auth(ALICE_TOKEN))
    assert resolved.status == 200
    await deliver_ok(gw, fixture("out_of_office.eml"), mail_from="wangzhe@example.cn")
    ooo = await conversation_of(gw.client, "ooo-777@example.cn")
    assert ooo["id"] != original["id"] and ooo["contact_id"] == original["contact_id"]
    assert {"loop-guard", "auto-submitted", "x-autoreply"} <= set(ooo["messages"][0]["flags"])
    assert ooo["queue"] is None
    assert (await conversation(gw.client, original["id"]))["status"] == "resolved"


async def test_deeply_nested_broken_and_garbage_mail_are_all_accepted(gw: Gateway) -> None:
    await deliver_ok(gw, fixture("nested_10.eml"))
    await deliver_ok(gw, fixture("broken_header.eml"))
    garbage = bytes(range(256)) * 20 + b"\r\n\xff\xfe\x00 no headers at all"
    await deliver_ok(gw, garbage)
    nested = message_of(await conversation_of(gw.client, "nested-10@example.com"), "nested-10@example.com")
    assert nested["text"] == "Ten levels down: 我的提现一直在处理中。"
    assert [a["name"] for a in nested["attachments"]] == ["screenshot.png"]
    broken = message_of(await conversation_of(gw.client, "broken-1@example.com"), "broken-1@example.com")
    assert broken["subject"] == "付款失败 退款" and broken["text"] == "我的钱到哪里去了？"
    assert broken["sender"]["id"] == "email:broken@example.com"
    assert "unreadable Date header" in broken["meta"]["email"]["defects"]
    everything = await conversations(gw.client)
    assert len(everything) == 3  # the garbage too: kept under the envelope sender


async def test_mail_over_the_size_limit_is_552_whether_declared_or_not(gw: Gateway) -> None:
    big = simple_mail(message_id="big@example.cn", text="x" * (MAX_BYTES + 1000))
    declared = await smtp_send(gw.port, big, mail_options=[f"SIZE={len(big)}"])
    assert declared.mail[0] == 552 and declared.data is None
    undeclared = await smtp_send(gw.port, big)
    assert undeclared.data is not None and undeclared.data[0] == 552
    assert await conversations(gw.client) == []


async def test_size_limit_is_advertised_in_ehlo(gw: Gateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    await reader.readline()
    writer.write(b"EHLO x.example\r\n")
    lines = [await reader.readline()]
    while lines[-1][3:4] == b"-":
        lines.append(await reader.readline())
    writer.close()
    code, text = int(lines[0][:3]), b"".join(lines)
    assert code == 250 and f"SIZE {MAX_BYTES}".encode() in text


async def test_smtp_acknowledgements_and_refusals_show_in_the_metrics(gw: Gateway) -> None:
    def sample(text: str, name: str, **labels: str) -> float:
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        match = re.search(rf"^{re.escape(name)}\{{{re.escape(want)}\}} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    before = await (await gw.client.get("/metrics")).text()
    await deliver_ok(gw, simple_mail(message_id="metrics-1@example.cn"))
    await smtp_send(gw.port, simple_mail(message_id="metrics-2@example.cn"), rcpts=["x@elsewhere.example.org"])
    after = await (await gw.client.get("/metrics")).text()
    assert (
        sample(after, "gateway_ack_latency_seconds_count", channel="email")
        - sample(before, "gateway_ack_latency_seconds_count", channel="email")
        == 1
    )
    for outcome in ("accepted", "rejected"):
        moved = sample(after, "gateway_inbound_messages_total", channel="email", outcome=outcome) - sample(
            before, "gateway_inbound_messages_total", channel="email", outcome=outcome
        )
        assert moved == 1, outcome


async def test_recipients_outside_our_domains_are_550_no_open_relay(gw: Gateway) -> None:
    raw = simple_mail(message_id="relay-try@example.cn")
    foreign = await smtp_send(gw.port, raw, rcpts=["victim@elsewhere.example.org"])
    assert [code for code, _ in foreign.rcpts] == [550] and foreign.data is None
    lookalike = await smtp_send(gw.port, raw, rcpts=[f"x@{DOMAIN}.evil.example"])
    assert [code for code, _ in lookalike.rcpts] == [550]
    mixed = await smtp_send(gw.port, raw, rcpts=["victim@elsewhere.example.org", f"Sales@{DOMAIN.upper()}"])
    assert [code for code, _ in mixed.rcpts] == [550, 250] and mixed.data is not None and mixed.data[0] == 250
    conv = await conversation_of(gw.client, "relay-try@example.cn")
    assert conv["endpoint"] == f"sales@{DOMAIN}"
    assert conv["messages"][0]["meta"]["email"]["envelope_to"] == [f"Sales@{DOMAIN.upper()}"]


async def test_storage_down_answers_451_so_the_sender_retries(
    aiohttp_client: Any, relay: RelaySink, tmp_path: Path, unreachable_store: Store
) -> None:
    config = gateway_config(**email_sections(relay.port, tmp_path))
    client = await aiohttp_client(build_app(config, store=unreachable_store, publisher=MemoryPublisher()))
    adapter = client.app[SERVICES].adapter_for(Channel.EMAIL)
    assert isinstance(adapter, EmailChannel) and adapter.smtp_port
    answer = await smtp_send(adapter.smtp_port, fixture("gbk_gb2312_subject.eml"))
    assert answer.data is not None and answer.data[0] == 451, answer


async def test_same_message_id_delivered_concurrently_is_one_message(gw: Gateway) -> None:
    raw = fixture("big5_outlook.eml")
    answers = await asyncio.gather(*(smtp_send(gw.port, raw) for _ in range(6)))
    assert {a.data[0] for a in answers if a.data} == {250} and all(a.data for a in answers)
    assert len({a.data[1] for a in answers if a.data}) == 1  # every copy answered with the same message
    everything = await conversations(gw.client)
    assert len(everything) == 1 and len(everything[0]["messages"]) == 1


# raw 8-bit headers and envelopes --------------------------------------------------------

UTF8_MAIL = (
    "From: 张三 <张三@例子.中国>\r\nTo: 客服 <客服@support.example.com>\r\nCc: 李四@例子.中国\r\n"
    "Subject: 退款没有到账\r\nMessage-ID: <客服-1@例子.中国>\r\nIn-Reply-To: <上一封@例子.中国>\r\n"
    "References: <第一封@例子.中国> <上一封@例子.中国>\r\nDate: Mon, 4 Mar 2024 10:00:00 +0800\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    "我的退款还没有到账。\r\n"
).encode()


async def test_smtputf8_mail_with_utf8_addresses_and_message_ids_is_stored_under_the_right_contact(
    gw: Gateway,
) -> None:
    reference = await deliver_ok(
        gw, UTF8_MAIL, mail_from="张三@例子.中国", rcpts=[f"客服@{DOMAIN}"], mail_options=["SMTPUTF8"]
    )
    assert reference.startswith("2.0.0 OK queued as msg_")
    conv = await conversation_of(gw.client, "客服-1@例子.中国")
    message = message_of(conv, "客服-1@例子.中国")
    assert message["sender"] == {"kind": "customer", "id": "email:张三@例子.中国", "name": "张三"}
    assert conv["contact"]["name"] == "张三"
    assert conv["contact"]["identities"] == [{"kind": "email", "value": "张三@例子.中国"}]
    assert conv["endpoint"] == f"客服@{DOMAIN}" and conv["subject"] == "退款没有到账"
    assert message["text"] == "我的退款还没有到账。"
    details = message["meta"]["email"]
    assert details["message_id"] == "客服-1@例子.中国"
    assert details["envelope_from"] == "张三@例子.中国" and details["envelope_to"] == [f"客服@{DOMAIN}"]
    assert details["to"] == [f"客服@{DOMAIN}"] and details["cc"] == ["李四@例子.中国"]
    assert details["in_reply_to"] == ["上一封@例子.中国"]
    assert details["references"] == ["第一封@例子.中国", "上一封@例子.中国"]
    # A UTF-8 Message-ID threads like any other.
    answer = UTF8_MAIL.replace("<客服-1@".encode(), "<客服-2@".encode()).replace(
        "In-Reply-To: <上一封@".encode(), "In-Reply-To: <客服-1@".encode()
    )
    await deliver_ok(gw, answer, mail_from="张三@例子.中国", mail_options=["SMTPUTF8"])
    assert (await conversation_of(gw.client, "客服-2@例子.中国"))["id"] == conv["id"]
    # The same mail again is a duplicate, not a second message.
    again = await deliver_ok(gw, UTF8_MAIL, mail_from="张三@例子.中国", mail_options=["SMTPUTF8"])
    assert again == reference
    assert len((await conversation(gw.client, conv["id"]))["messages"]) == 2


async def test_raw_8bit_headers_in_any_charset_are_stored_never_answered_451(gw: Gateway) -> None:
    # The auditor's mails: an unencoded UTF-8 From address, To address and Message-ID.
    bare_from = "From: 张三@例子.中国\r\nSubject: s\r\nMessage-ID: <ul@x>\r\n\r\nhi\r\n".encode()
    to = "From: a@b.cn\r\nTo: 客服 <客服@support.example.com>\r\nSubject: s\r\nMessage-ID: <rto@x>\r\n\r\nhi\r\n"
    message_id = "From: a@b.cn\r\nSubject: s\r\nMessage-ID: <客服@x>\r\n\r\nhi\r\n"
    # GBK, not UTF-8: read as GB18030.
    gbk = "From: 张三 <张三@例子.中国>\r\nSubject: 退款\r\nMessage-ID: <退款-1@x>\r\n\r\nhi\r\n".encode("gbk")
    # Bytes that are neither: U+FFFD, and an address that cannot be read is no identity.
    unreadable = (
        b"From: Zo\xeb <zo\xff@example.fr>\r\nSubject: R\xe9sum\xe9\r\nMessage-ID: <\xff\xfe-1@x>\r\n\r\nhi\r\n"
    )
    await deliver_ok(gw, bare_from)
    await deliver_ok(gw, to.encode())
    await deliver_ok(gw, message_id.encode())
    await deliver_ok(gw, gbk, mail_from="zhang@example.cn")
    await deliver_ok(gw, unreadable, mail_from="zoe@example.fr")
    first = message_of(await conversation_of(gw.client, "ul@x"), "ul@x")
    assert first["sender"]["id"] == "email:张三@例子.中国"
    assert message_of(await conversation_of(gw.client, "rto@x"), "rto@x")["meta"]["email"]["to"] == [f"客服@{DOMAIN}"]
    assert message_of(await conversation_of(gw.client, "客服@x"), "客服@x")["sender"]["id"] == "email:a@b.cn"
    from_gbk = message_of(await conversation_of(gw.client, "退款-1@x"), "退款-1@x")
    assert from_gbk["sender"] == {"kind": "customer", "id": "email:张三@例子.中国", "name": "张三"}
    assert from_gbk["subject"] == "退款"
    garbled = message_of(await conversation_of(gw.client, "\ufffd\ufffd-1@x"), "\ufffd\ufffd-1@x")
    assert garbled["sender"] == {"kind": "customer", "id": "email:zoe@example.fr", "name": "Zoë"}
    assert garbled["subject"] == "Résumé"
    assert len(await conversations(gw.client)) == 5


async def _smtp_dialogue(port: int, lines: list[bytes]) -> list[bytes]:
    """Raw SMTP, byte for byte (smtplib cannot send 8-bit that is not UTF-8): the first
    line of each answer, the greeting first."""

    async def answer() -> bytes:
        first = line = await reader.readline()
        while line[3:4] == b"-":
            line = await reader.readline()
        return first

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        answers = [await answer()]
        for line in lines:
            writer.write(line + b"\r\n")
            await writer.drain()
            answers.append(await answer())
        return answers
    finally:
        writer.close()


async def test_gbk_bytes_in_the_envelope_are_decoded_too(gw: Gateway) -> None:
    mail = b"Subject: no From header\r\nMessage-ID: <envelope-gbk@x>\r\n\r\nhi\r\n."
    answers = await _smtp_dialogue(
        gw.port,
        [
            b"EHLO client.example.net",
            b"MAIL FROM:<" + "张三@例子.中国".encode("gbk") + b">",
            b"RCPT TO:<" + "客服".encode("gbk") + b"@" + DOMAIN.encode() + b">",
            b"DATA",
            mail,
            b"QUIT",
        ],
    )
    assert [a[:3] for a in answers] == [b"220", b"250", b"250", b"250", b"354", b"250", b"221"], answers
    conv = await conversation_of(gw.client, "envelope-gbk@x")
    message = message_of(conv, "envelope-gbk@x")
    assert message["sender"]["id"] == "email:张三@例子.中国"
    assert message["meta"]["email"]["envelope_to"] == [f"客服@{DOMAIN}"] and conv["endpoint"] == f"客服@{DOMAIN}"


# duplicates --------------------------------------------------------------------------

ALICE, BOB = "email:alice@a.cn", "email:bob@b.cn"


async def test_different_mails_reusing_one_message_id_are_each_stored(gw: Gateway) -> None:
    mails = [
        simple_mail(message_id="1@localhost", sender="alice@a.cn", subject="refund", text="Alice: my refund"),
        simple_mail(message_id="1@localhost", sender="bob@b.cn", subject="locked", text="Bob: my account is locked"),
        # A contact form: one sender address and one Message-ID for every submission.
        simple_mail(message_id="1@localhost", sender="form@shop.example", text="Form: where is order 1?"),
        simple_mail(message_id="1@localhost", sender="form@shop.example", text="Form: where is order 2?"),
    ]
    references = [await deliver_ok(gw, raw) for raw in mails]
    assert len(set(references)) == 4
    everything = await conversations(gw.client)
    stored = sorted((m["sender"]["id"], m["text"]) for c in everything for m in c["messages"])
    assert stored == [
        ("email:alice@a.cn", "Alice: my refund"),
        ("email:bob@b.cn", "Bob: my account is locked"),
        ("email:form@shop.example", "Form: where is order 1?"),
        ("email:form@shop.example", "Form: where is order 2?"),
    ]
    assert all(mail_id(m) == "1@localhost" for c in everything for m in c["messages"])
    alice, bob = (next(c for c in everything if c["messages"][0]["sender"]["id"] == s) for s in (ALICE, BOB))
    assert alice["contact_id"] != bob["contact_id"]


def _relayed(raw: bytes, hop: int) -> bytes:
    """``raw`` as another delivery attempt brings it: the trace headers servers add differ."""
    return (
        f"Received: from relay{hop}.example.net by mx.example.net; Mon, 4 Mar 2024 10:0{hop}:00 +0800\r\n"
        f"Return-Path: <bounce-{hop}@example.cn>\r\nX-Spam-Score: 0.{hop}\r\n"
    ).encode() + raw


async def test_a_redelivered_mail_is_one_message_whatever_the_servers_added(gw: Gateway) -> None:
    mail = simple_mail(message_id="again@example.cn", text="付款失败了两次。")
    first = await deliver_ok(gw, _relayed(mail, 1))
    assert await deliver_ok(gw, _relayed(mail, 2), mail_from="bounce-2@example.cn") == first
    # A relay that could not pass 8-bit on re-encodes the body: the same mail still.
    downgraded = mail.replace(b"Content-Transfer-Encoding: 8bit", b"Content-Transfer-Encoding: base64").replace(
        "付款失败了两次。\r\n".encode(), base64.encodebytes("付款失败了两次。\r\n".encode()).replace(b"\n", b"\r\n")
    )
    assert await deliver_ok(gw, _relayed(downgraded, 3)) == first
    # Without a Message-ID, the content alone tells a redelivery.
    no_id = mail.replace(b"Message-ID: <again@example.cn>\r\n", b"")
    no_id = no_id.replace("付款失败了两次。".encode(), "没有 Message-ID。".encode())
    second = await deliver_ok(gw, _relayed(no_id, 4))
    assert second != first and await deliver_ok(gw, _relayed(no_id, 5)) == second
    everything = await conversations(gw.client)
    assert sorted(m["text"] for c in everything for m in c["messages"]) == ["付款失败了两次。", "没有 Message-ID。"]


async def test_a_bare_lf_copy_of_a_stored_mail_stores_nothing(gw: Gateway) -> None:
    crlf_mail = (
        "From: Judy <judy@example.com>\r\nTo: support@support.example.com\r\nSubject: 重复\r\n"
        "Message-ID: <lf-copy@example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n第一行\r\n第二行\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>第一行<br>\r\n第二行</p>\r\n--b--\r\n"
    ).encode()
    first = await gw.adapter.receive(crlf_mail, "judy@example.com", [SUPPORT])
    again = await gw.adapter.receive(crlf_mail.replace(b"\r\n", b"\n"), "judy@example.com", [SUPPORT])
    assert again == first
    [conv] = await conversations(gw.client)
    assert [m["text"] for m in conv["messages"]] == ["第一行\n第二行"]


async def test_iso_2022_jp_mail_reaches_the_agent_readable(gw: Gateway) -> None:
    def jis(text: str) -> str:
        return "=?ISO-2022-JP?B?" + base64.b64encode(text.encode("iso2022_jp")).decode() + "?="

    raw = (
        f"From: {jis('山田 太郎')} <yamada@example.jp>\r\nTo: {SUPPORT}\r\nSubject: {jis('返金について')}\r\n"
        "Message-ID: <jis-1@example.jp>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
    ).encode() + "二重に請求されました。\r\n".encode("iso2022_jp")
    await deliver_ok(gw, raw)
    [conv] = await conversations(gw.client)
    [message] = conv["messages"]
    assert (conv["subject"], message["text"], message["sender"]["name"]) == (
        "返金について",
        "二重に請求されました。",
        "山田 太郎",
    )


async def test_concurrent_redeliveries_of_mails_sharing_a_message_id_store_each_mail_once(gw: Gateway) -> None:
    alice = simple_mail(message_id="1@localhost", sender="alice@a.cn", text="Alice: my refund")
    bob = simple_mail(message_id="1@localhost", sender="bob@b.cn", text="Bob: my account is locked")
    copies = [_relayed(alice, hop) for hop in range(4)] + [_relayed(bob, hop) for hop in range(4)]
    answers = await asyncio.gather(*(smtp_send(gw.port, raw) for raw in copies))
    assert all(a.data is not None and a.data[0] == 250 for a in answers), answers
    references = [a.data[1] for a in answers if a.data]
    assert len(set(references[:4])) == 1 and len(set(references[4:])) == 1  # one message for each mail ...
    assert references[0] != references[4]  # ... and two mails
    everything = await conversations(gw.client)
    stored = sorted((m["sender"]["id"], m["text"]) for c in everything for m in c["messages"])
    assert stored == [(ALICE, "Alice: my refund"), (BOB, "Bob: my account is locked")]


async def test_attachment_over_the_cap_is_listed_but_not_kept(make_gateway: Callable[..., Awaitable[Gateway]]) -> None:
    gw = await make_gateway(max_attachment_bytes=500)
    await deliver_ok(gw, fixture("gbk_gb2312_subject.eml"))
    message = (await conversation_of(gw.client, "tencent_3A1F2B9C@qq.com"))["messages"][0]
    (attachment,) = message["attachments"]
    assert attachment["size"] == 1058 and attachment["storage_key"] is None
    assert "over the 500 limit" in message["meta"]["email"]["attachments_not_kept"][0]
    assert not gw.attachments.exists() or not any(p.is_file() for p in gw.attachments.rglob("*"))


async def test_card_numbers_in_text_attachments_are_masked_before_they_are_written(gw: Gateway) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Li Lei <li.lei@example.cn>", SUPPORT, "退款凭证"
    mail["Message-ID"] = "<attached-cards@example.cn>"
    mail.set_content("请看附件。")
    mail.add_attachment("卡号 4111 1111 1111 1111，订单 20240304001\n", filename="说明.txt")
    csv = "订单,卡号\n1,6222021234567890128\n".encode("gb18030")
    mail.add_attachment(csv, maintype="text", subtype="csv", filename="orders.csv", params={"charset": "gb2312"})
    binary = b"%PDF-1.4 4111111111111111 \xff\xfe"
    mail.add_attachment(binary, maintype="application", subtype="pdf", filename="scan.pdf")
    await deliver_ok(gw, mail.as_bytes())
    message = message_of(await conversation_of(gw.client, "attached-cards@example.cn"), "attached-cards@example.cn")
    files = {a["name"]: a for a in message["attachments"]}
    text = (gw.attachments / files["说明.txt"]["storage_key"]).read_bytes()
    assert text.decode("utf-8") == "卡号 **** **** **** 1111，订单 20240304001\n"
    assert files["说明.txt"]["size"] == len(text)
    stored_csv = (gw.attachments / files["orders.csv"]["storage_key"]).read_bytes()
    assert stored_csv == "订单,卡号\n1,***************0128\n".encode("gb18030")
    # Binary files are kept as received: masking them would corrupt them.
    assert (gw.attachments / files["scan.pdf"]["storage_key"]).read_bytes() == binary


async def test_the_same_address_on_the_api_channel_is_the_same_contact(gw: Gateway) -> None:
    body, headers = signed_api_body(
        {"id": "crm-1", "from": {"id": "user-9", "email": "Li.Lei@Example.CN"}, "text": "app message"}, API_SECRET
    )
    api = await (await gw.client.post("/webhooks/api", data=body, headers=headers)).json()
    await deliver_ok(gw, simple_mail(message_id="first@example.cn", sender="li.lei@example.cn"))
    mail_conv = await conversation_of(gw.client, "first@example.cn")
    api_conv = await conversation(gw.client, api["conversation_id"])
    assert mail_conv["contact_id"] == api_conv["contact_id"]
    identities = {f"{i['kind']}:{i['value']}" for i in mail_conv["contact"]["identities"]}
    assert identities == {"api:user-9", "email:li.lei@example.cn"}


# threading --------------------------------------------------------------------------


async def test_replies_thread_by_in_reply_to_then_references_and_new_topics_open_new_conversations(gw: Gateway) -> None:
    await deliver_ok(gw, simple_mail(message_id="t1@example.cn"))
    first = await conversation_of(gw.client, "t1@example.cn")
    await deliver_ok(gw, simple_mail(message_id="t2@example.cn", extra_headers="In-Reply-To: <t1@example.cn>\r\n"))
    await deliver_ok(
        gw,
        simple_mail(
            message_id="t3@example.cn", extra_headers="References: <unknown@x> <t2@example.cn> <nowhere@y>\r\n"
        ),
    )
    threaded = await conversation(gw.client, first["id"])
    assert [mail_id(m) for m in threaded["messages"]] == ["t1@example.cn", "t2@example.cn", "t3@example.cn"]
    await deliver_ok(gw, simple_mail(message_id="t4@example.cn", subject="Another question"))
    other = await conversation_of(gw.client, "t4@example.cn")
    assert other["id"] != first["id"] and other["contact_id"] == first["contact_id"]


async def test_agent_reply_goes_out_through_the_relay_with_threading_headers(gw: Gateway, relay: RelaySink) -> None:
    await deliver_ok(gw, simple_mail(message_id="q1@example.cn", subject="Re: 付款失败"))
    await deliver_ok(
        gw,
        simple_mail(
            message_id="q2@example.cn",
            subject="Re: 付款失败",
            extra_headers="In-Reply-To: <q1@example.cn>\r\nReferences: <q0@example.cn> <q1@example.cn>\r\n",
        ),
    )
    cid = (await conversation_of(gw.client, "q1@example.cn"))["id"]
    reply = await agent_reply(gw, cid, "您好，退款已处理。\n\nThanks, Alice <team>")
    await eventually(lambda: relay.received)
    (sent,) = relay.received
    assert sent.mail_from == SUPPORT and sent.rcpt_tos == ["li.lei@example.cn"]
    mail = parse_sent(sent.content)
    assert mail["Subject"] == "Re: 付款失败"
    assert (
        mail["From"].addresses[0].addr_spec == SUPPORT
        and mail["From"].addresses[0].display_name == "Wallet Support 客服"
    )
    assert mail["To"].addresses[0].addr_spec == "li.lei@example.cn"
    assert mail["In-Reply-To"] == "<q2@example.cn>"
    assert mail["References"].split() == ["<q0@example.cn>", "<q1@example.cn>", "<q2@example.cn>"]
    our_id = mail["Message-ID"].strip("<>")
    assert our_id.startswith(reply["id"] + ".") and our_id.endswith("@" + DOMAIN)
    reply_to = mail["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("support+") and reply_to.endswith("@" + DOMAIN)
    assert gw.adapter.tokens.conversation_from_address(reply_to) == cid
    assert mail["Auto-Submitted"] is None
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None and html is not None
    assert (
        plain.get_content_charset() == "utf-8"
        and plain.get_content().replace("\r\n", "\n").strip() == "您好，退款已处理。\n\nThanks, Alice <team>"
    )
    assert "Thanks, Alice &lt;team&gt;" in html.get_content()
    await eventually(lambda: _has_status(gw, cid, reply["id"], "sent"))
    assert (await status_of(gw, cid, reply["id"]))["external_id"] == our_id


async def test_reply_attachments_go_as_files_or_links(gw: Gateway, relay: RelaySink) -> None:
    await deliver_ok(gw, fixture("gbk_gb2312_subject.eml"))
    conv = await conversation_of(gw.client, "tencent_3A1F2B9C@qq.com")
    stored = conv["messages"][0]["attachments"][0]
    resp = await gw.client.post(
        f"/api/v1/conversations/{conv['id']}/messages",
        json={
            "text": "请查收附件。",
            "attachments": [
                {"storage_key": stored["storage_key"], "name": "交易凭证.pdf", "content_type": "application/pdf"},
                {"url": "https://files.example.com/refund-guide.pdf", "name": "refund-guide.pdf"},
            ],
        },
        headers=auth(ALICE_TOKEN),
    )
    assert resp.status == 202
    await eventually(lambda: relay.received)
    mail = parse_sent(relay.received[0].content)
    (attached,) = list(mail.iter_attachments())
    assert attached.get_filename() == "交易凭证.pdf" and attached.get_content_type() == "application/pdf"
    assert attached.get_content() == (gw.attachments / stored["storage_key"]).read_bytes()
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "请查收附件。" in text and "refund-guide.pdf: https://files.example.com/refund-guide.pdf" in text


async def test_reply_names_a_digit_heavy_message_id_exactly(gw: Gateway, relay: RelaySink) -> None:
    # 4111111111111111 passes the Luhn check: card masking must not touch threading data.
    await deliver_ok(gw, simple_mail(message_id="4111111111111111.20240304@example.cn"))
    cid = (await conversation_of(gw.client, "4111111111111111.20240304@example.cn"))["id"]
    await agent_reply(gw, cid, "ok")
    await eventually(lambda: relay.received)
    mail = parse_sent(relay.received[0].content)
    assert mail["In-Reply-To"] == "<4111111111111111.20240304@example.cn>"
    assert mail["References"] == "<4111111111111111.20240304@example.cn>"


async def _has_status(gw: Gateway, cid: str, message_id: str, status: str) -> bool:
    return (await status_of(gw, cid, message_id))["status"] == status


async def test_customer_answers_to_our_reply_thread_by_token_and_by_our_message_id(
    gw: Gateway, relay: RelaySink
) -> None:
    await deliver_ok(gw, simple_mail(message_id="k1@example.cn"))
    cid = (await conversation_of(gw.client, "k1@example.cn"))["id"]
    await agent_reply(gw, cid, "Which card?")
    await eventually(lambda: relay.received)
    ours = parse_sent(relay.received[0].content)
    reply_to = ours["Reply-To"].addresses[0].addr_spec
    # A client that drops every threading header but answers to Reply-To:
    await deliver_ok(gw, simple_mail(message_id="k2@example.cn", to=reply_to), rcpts=[reply_to])
    # A client that only names our Message-ID (which storage never saw from the customer):
    await deliver_ok(
        gw, simple_mail(message_id="k3@example.cn", extra_headers=f"In-Reply-To: {ours['Message-ID']}\r\n")
    )
    # A forwarding rule: envelope to the plain address, the token only in To:
    await deliver_ok(gw, simple_mail(message_id="k4@example.cn", to=reply_to), rcpts=[SUPPORT])
    ids = [mail_id(m) for m in (await conversation(gw.client, cid))["messages"] if m["direction"] == "inbound"]
    assert ids == ["k1@example.cn", "k2@example.cn", "k3@example.cn", "k4@example.cn"]
    forged = reply_to.replace(".", ".x", 1) if "." in reply_to.split("@")[0] else reply_to + "x"
    await deliver_ok(gw, simple_mail(message_id="k5@example.cn", to=forged), rcpts=[forged])
    assert (await conversation_of(gw.client, "k5@example.cn"))["id"] != cid


# outbound ---------------------------------------------------------------------------


async def test_a_bounce_of_our_reply_marks_it_failed_and_is_not_offered(gw: Gateway, relay: RelaySink) -> None:
    await deliver_ok(gw, simple_mail(message_id="b1@example.cn", sender="nobody@example.cn"))
    cid = (await conversation_of(gw.client, "b1@example.cn"))["id"]
    reply = await agent_reply(gw, cid, "Hello")
    await eventually(lambda: _has_status(gw, cid, reply["id"], "sent"))
    our_id = (await status_of(gw, cid, reply["id"]))["external_id"]
    await deliver_ok(gw, fixture("dsn_bounce.eml", ORIGINAL_MESSAGE_ID=our_id), mail_from="<>")
    await eventually(lambda: _has_status(gw, cid, reply["id"], "failed"))
    failed = await status_of(gw, cid, reply["id"])
    assert "550 5.1.1" in failed["error"] and "User unknown" in failed["error"]
    bounce = await conversation_of(gw.client, "20240301050000.ABC123@mx.example.cn")
    assert bounce["id"] != cid and bounce["queue"] is None
    flags = set(bounce["messages"][0]["flags"])
    assert {"loop-guard", "null-sender", "report", "bounce", "system-sender"} <= flags
    assert bounce["messages"][0]["meta"]["email"]["delivery_report"]["action"] == "failed"


async def test_a_bounce_naming_a_message_that_is_not_ours_changes_nothing(gw: Gateway, relay: RelaySink) -> None:
    await deliver_ok(gw, simple_mail(message_id="b2@example.cn"))
    cid = (await conversation_of(gw.client, "b2@example.cn"))["id"]
    reply = await agent_reply(gw, cid, "Hello")
    await eventually(lambda: _has_status(gw, cid, reply["id"], "sent"))
    our_id = (await status_of(gw, cid, reply["id"]))["external_id"]
    forged = our_id.rsplit(".", 1)[0] + ".aaaaaaaaaaaaaaaa@" + DOMAIN
    await deliver_ok(gw, fixture("dsn_bounce.eml", ORIGINAL_MESSAGE_ID=forged), mail_from="<>")
    await conversation_of(gw.client, "20240301050000.ABC123@mx.example.cn")
    assert (await status_of(gw, cid, reply["id"]))["status"] == "sent"


async def test_relay_4xx_is_retried_and_5xx_fails_with_the_relays_reason(gw: Gateway, relay: RelaySink) -> None:
    await deliver_ok(gw, simple_mail(message_id="r1@example.cn"))
    cid = (await conversation_of(gw.client, "r1@example.cn"))["id"]
    relay.answers = ["451 4.7.1 greylisted, try again"]
    first = await agent_reply(gw, cid, "first")
    await eventually(lambda: _has_status(gw, cid, first["id"], "sent"), timeout=30)
    assert (await status_of(gw, cid, first["id"]))["attempts"] == 2
    assert len(relay.received) == 1
    relay.answers = ["550 5.7.1 message rejected as spam"]
    second = await agent_reply(gw, cid, "second")
    await eventually(lambda: _has_status(gw, cid, second["id"], "failed"))
    failed = await status_of(gw, cid, second["id"])
    assert failed["error"] == "relay answered 550 5.7.1 message rejected as spam" and failed["attempts"] == 1


async def test_unreachable_relay_is_a_retryable_failure(make_gateway: Callable[..., Awaitable[Gateway]]) -> None:
    gw = await make_gateway(relay={"host": "127.0.0.1", "port": 1, "starttls": False, "timeout": 2})
    await deliver_ok(gw, simple_mail(message_id="u1@example.cn"))
    cid = (await conversation_of(gw.client, "u1@example.cn"))["id"]
    reply = await agent_reply(gw, cid, "hello")

    async def attempted() -> bool:
        message = await status_of(gw, cid, reply["id"])
        return message["attempts"] >= 1

    await eventually(attempted)
    message = await status_of(gw, cid, reply["id"])
    assert message["status"] == "queued" and "relay unreachable" in message["error"]


async def test_starttls_and_auth_are_used_when_configured(
    make_gateway: Callable[..., Awaitable[Gateway]], tmp_path: Path
) -> None:
    cert, key = make_certificate(tmp_path)
    secure = await start_relay(RelaySink(), tls=(cert, key), users={"gateway": "relay-pass-123"})
    try:
        gw = await make_gateway(
            relay={
                "host": "127.0.0.1",
                "port": secure.port,
                "starttls": True,
                "username": "gateway",
                "password": "relay-pass-123",
                "ca_file": str(cert),
                "timeout": 5,
            }
        )
        assert "relay-pass-123" not in repr(gw.adapter)
        await deliver_ok(gw, simple_mail(message_id="s1@example.cn"))
        cid = (await conversation_of(gw.client, "s1@example.cn"))["id"]
        await agent_reply(gw, cid, "over TLS")
        await eventually(lambda: secure.received)
        assert secure.received[0].tls and secure.received[0].authenticated
    finally:
        secure.server.close()


async def test_wrong_relay_password_fails_with_the_relays_reason(
    make_gateway: Callable[..., Awaitable[Gateway]], tmp_path: Path
) -> None:
    cert, key = make_certificate(tmp_path)
    secure = await start_relay(RelaySink(), tls=(cert, key), users={"gateway": "right"})
    try:
        gw = await make_gateway(
            relay={"host": "127.0.0.1", "port": secure.port, "starttls": True, "username": "gateway",
                   "password": "wrong-password", "ca_file": str(cert), "timeout": 5}
        )  # fmt: skip
        await deliver_ok(gw, simple_mail(message_id="s2@example.cn"))
        cid = (await conversation_of(gw.client, "s2@example.cn"))["id"]
        reply = await agent_reply(gw, cid, "x")
        await eventually(lambda: _has_status(gw, cid, reply["id"], "failed"))
        error = (await status_of(gw, cid, reply["id"]))["error"]
        assert error.startswith("relay answered 535") and "wrong-password" not in error
    finally:
        secure.server.close()


async def test_automatic_replies_carry_auto_submitted_and_are_rate_limited(
    make_gateway: Callable[..., Awaitable[Gateway]], relay: RelaySink
) -> None:
    gw = await make_gateway(auto_reply_limit=1)
    await deliver_ok(gw, simple_mail(message_id="a1@example.cn"))
    conv_id = (await conversation_of(gw.client, "a1@example.cn"))["id"]
    services = gw.client.app[SERVICES]
    conv = await services.store.get_conversation(conv_id)
    assert conv is not None
    assert gw.adapter.auto_reply_allowed("li.lei@example.cn")
    assert not gw.adapter.auto_reply_allowed("li.lei@example.cn", ["loop-guard", "auto-submitted"])
    first = await services.outbound.reply(conv, agent=None, text="We got your mail.", sender_kind="bot", flags=["auto"])
    await eventually(lambda: relay.received)
    mail = parse_sent(relay.received[0].content)
    assert mail["Auto-Submitted"] == "auto-replied" and mail["X-Auto-Response-Suppress"] == "All"
    await eventually(lambda: _has_status(gw, conv_id, first.id, "sent"))
    assert not gw.adapter.auto_reply_allowed("li.lei@example.cn")
    second = await services.outbound.reply(conv, agent=None, text="Again?", sender_kind="bot", flags=["auto"])
    await eventually(lambda: _has_status(gw, conv_id, second.id, "failed"))
    assert "limit" in (await status_of(gw, conv_id, second.id))["error"]
    assert len(relay.received) == 1


# lifecycle --------------------------------------------------------------------------


async def test_smtp_port_zero_binds_a_free_port_and_shutdown_closes_it(
    aiohttp_client: Any, store: Any, relay: RelaySink, tmp_path: Path
) -> None:
    app = build_app(gateway_config(**email_sections(relay.port, tmp_path)), store=store, publisher=MemoryPublisher())
    client = await aiohttp_client(app)
    adapter = client.app[SERVICES].adapter_for(Channel.EMAIL)
    assert isinstance(adapter, EmailChannel)
    port = adapter.smtp_port
    assert port and port != 0
    await deliver_ok(
        Gateway(client=client, adapter=adapter, port=port, attachments=tmp_path), simple_mail(message_id="l1@x.cn")
    )
    await client.close()
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)


async def test_without_smtp_or_email_section_there_is_no_email_channel(
    make_client: Callable[..., Awaitable[TestClient]],
) -> None:
    client = await make_client()
    assert client.app[SERVICES].adapter_for(Channel.EMAIL) is None
    smtp_off = await make_client(channels={"email": {"address": SUPPORT}})
    adapter = smtp_off.app[SERVICES].adapter_for(Channel.EMAIL)
    assert isinstance(adapter, EmailChannel) and adapter.smtp_port is None and not adapter.can_send


def test_fixtures_are_real_crlf_mail() -> None:
    for name in os.listdir(Path(__file__).parent / "email_fixtures"):
        raw = fixture(name)
        assert b"\r\n\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), name


async def test_sessions_open_at_shutdown_are_told_421() -> None:
    from gateway.channels.email.smtp import InboundHandler, SmtpServer

    async def never(raw: bytes, sender: str | None, rcpts: list[str]) -> str:
        raise AssertionError("no mail is sent in this test")

    server = SmtpServer(
        InboundHandler(domains=[DOMAIN], on_mail=never), host="127.0.0.1", port=0, max_bytes=1000, hostname="gw"
    )
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        assert (await reader.readline()).startswith(b"220")
        writer.write(b"EHLO client.example\r\n")
        while not (line := await reader.readline()).startswith(b"250 "):
            assert line.startswith(b"250-")
        await server.stop()
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"421 4.3.2")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # and the connection is closed
    finally:
        writer.close()


async def test_mail_gets_a_451_above_the_outbox_limit_and_250_once_it_drains(
    make_client: Callable[..., Awaitable[TestClient]], publisher: MemoryPublisher, tmp_path: Path
) -> None:
    publisher.fail = True  # the broker is away: the outbox only grows
    sections = email_sections(None, tmp_path / "attachments")
    client = await make_client(**sections, broker={"outbox_limit": 3})
    adapter = client.app[SERVICES].adapter_for(Channel.EMAIL)
    assert isinstance(adapter, EmailChannel) and adapter.smtp_port
    first = await smtp_send(adapter.smtp_port, simple_mail(message_id="bp-1@example.cn", sender="a@example.cn"))
    assert first.data is not None and first.data[0] == 250

    mail = simple_mail(message_id="bp-2@example.cn", sender="b@example.cn")
    refused = await smtp_send(adapter.smtp_port, mail)
    assert refused.data is not None and refused.data[0] == 451, refused
    assert b"try again later" in refused.data[1]

    publisher.fail = False
    await eventually(lambda: publisher.queues.get("general"))

    async def delivered() -> bool:
        answer = await smtp_send(adapter.smtp_port, mail)
        return answer.data is not None and answer.data[0] == 250

    await eventually(delivered)


async def test_a_reply_to_a_subject_and_name_that_decode_to_line_breaks_goes_out_on_one_line(
    gw: Gateway, relay: RelaySink
) -> None:
    import base64

    subject = "=?utf-8?b?" + base64.b64encode("退款\r\nBcc: evil@attacker.example".encode()).decode() + "?="
    raw = (
        "From: =?utf-8?q?Li=0D=0ALei=0AX-Injected=3A_1?= <li.lei@example.cn>\r\n"
        f"To: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: <crlf-1@example.cn>\r\n"
        "Date: Mon, 4 Mar 2024 10:00:00 +0800\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n付款失败\r\n"
    ).encode()
    await deliver_ok(gw, raw)
    cid = (await conversation_of(gw.client, "crlf-1@example.cn"))["id"]
    await agent_reply(gw, cid, "已退款")
    await eventually(lambda: relay.received)
    sent = relay.received[0].content
    mail = parse_sent(sent)
    assert mail["Subject"] == "Re: 退款 Bcc: evil@attacker.example"
    assert mail["To"].addresses[0].display_name == "Li Lei X-Injected: 1"
    assert mail["Bcc"] is None and mail["X-Injected"] is None
    assert relay.received[0].rcpt_tos == ["li.lei@example.cn"]
