"""Replies to internationalised addresses (RFC 6531/6532): real SMTP in, real SMTP out.

A customer writing from ``张三@例子.中国`` (or with UTF-8 Message-IDs) gets a reply sent with
``MAIL FROM … SMTPUTF8`` and raw UTF-8 headers; a relay without SMTPUTF8 gets nothing and
the reply fails for good, naming SMTPUTF8; ASCII replies go out as they always did.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from gateway.app import build_app
from gateway.channels.email import EmailChannel
from gateway.channels.email.send import RelaySettings, compose, deliver, smtputf8_reasons
from gateway.model import Channel
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import Store
from gateway.wiring.services import SERVICES
from tests.channels.test_email_gateway import (
    UTF8_MAIL,
    Gateway,
    agent_reply,
    conversation_of,
    deliver_ok,
    email_sections,
    status_of,
)
from tests.channels.test_email_support import DOMAIN, SUPPORT, RelaySink, simple_mail, start_relay
from tests.conftest import eventually
from tests.helpers import gateway_config

CUSTOMER = "张三@例子.中国"


@dataclass
class OptionsSink(RelaySink):
    """The test relay, also keeping each accepted mail's ``MAIL FROM`` parameters."""

    mail_options: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if answer.startswith("250"):
            self.mail_options.append(list(envelope.mail_options))
        return answer


async def start_utf8_relay(sink: RelaySink) -> RelaySink:
    """Like ``start_relay`` (which does not advertise SMTPUTF8), but advertising it."""
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return SMTP(sink, hostname="relay.test", enable_SMTPUTF8=True, loop=loop)

    sink.server = await loop.create_server(factory, "127.0.0.1", 0)
    sink.port = sink.server.sockets[0].getsockname()[1]
    return sink


async def ehlo_extensions(port: int) -> dict[str, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=5)
    async with client:
        await client.ehlo()
        return dict(client.esmtp_extensions)


@pytest.fixture
async def utf8_relay() -> AsyncIterator[OptionsSink]:
    sink = await start_utf8_relay(OptionsSink())
    yield sink  # type: ignore[misc]
    sink.server.close()


@pytest.fixture
async def ascii_relay() -> AsyncIterator[OptionsSink]:
    sink = await start_relay(OptionsSink())
    yield sink
    sink.server.close()


@pytest.fixture
def start_gateway(aiohttp_client: Any, store: Store, tmp_path: Path) -> Callable[[int], Awaitable[Gateway]]:
    async def start(relay_port: int) -> Gateway:
        attachments = tmp_path / "attachments"
        config = gateway_config(**email_sections(relay_port, attachments))
        client = await aiohttp_client(build_app(config, store=store, publisher=MemoryPublisher()))
        adapter = client.app[SERVICES].adapter_for(Channel.EMAIL)
        assert isinstance(adapter, EmailChannel) and adapter.smtp_port
        return Gateway(client=client, adapter=adapter, port=adapter.smtp_port, attachments=attachments)

    return start


def parse_utf8(raw: bytes, policy: email.policy.EmailPolicy = email.policy.SMTPUTF8) -> EmailMessage:
    """An RFC 6532 message as a reader sees it: the standard library's bytes parser
    leaves 8-bit headers as surrogate escapes, so decode UTF-8 first (bodies are 7-bit)."""
    return email.message_from_string(raw.decode("utf-8"), policy=policy)  # type: ignore[return-value]


def header_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


async def test_the_relay_fakes_differ_only_in_smtputf8(utf8_relay: OptionsSink, ascii_relay: OptionsSink) -> None:
    with_utf8, without = await ehlo_extensions(utf8_relay.port), await ehlo_extensions(ascii_relay.port)
    assert "smtputf8" in with_utf8 and "smtputf8" not in without
    assert "8bitmime" in with_utf8 and "8bitmime" in without


async def test_reply_to_an_internationalised_address_goes_out_with_smtputf8(
    start_gateway: Callable[[int], Awaitable[Gateway]], utf8_relay: OptionsSink
) -> None:
    gw = await start_gateway(utf8_relay.port)
    await deliver_ok(gw, UTF8_MAIL, mail_from=CUSTOMER, rcpts=[f"客服@{DOMAIN}"], mail_options=["SMTPUTF8"])
    cid = (await conversation_of(gw.client, "客服-1@例子.中国"))["id"]
    reply = await agent_reply(gw, cid, "您好，退款已经处理。")
    await eventually(lambda: utf8_relay.received)
    (sent,) = utf8_relay.received
    (options,) = utf8_relay.mail_options
    assert "SMTPUTF8" in [o.upper() for o in options]
    assert sent.mail_from == SUPPORT and sent.rcpt_tos == [CUSTOMER]
    # Raw UTF-8, never RFC 2047 encoded words, where an address or a Message-ID is.
    lines = header_lines(sent.content)
    assert "To: 张三 <张三@例子.中国>".encode() in lines
    assert "In-Reply-To: <客服-1@例子.中国>".encode() in lines
    assert b"=?" not in b"\n".join(line for line in lines if line.startswith((b"To:", b"In-Reply-To:")))
    for policy in (email.policy.SMTPUTF8, email.policy.default):
        mail = parse_utf8(sent.content, policy)
        (to,) = mail["To"].addresses
        assert to.addr_spec == CUSTOMER and to.display_name == "张三"
        assert mail["In-Reply-To"] == "<客服-1@例子.中国>"
        assert mail["References"].split() == ["<第一封@例子.中国>", "<上一封@例子.中国>", "<客服-1@例子.中国>"]
        assert mail["From"].addresses[0].addr_spec == SUPPORT
        assert mail["Subject"] == "Re: 退款没有到账"
        plain = mail.get_body(("plain",))
        assert plain is not None and plain.get_content().strip() == "您好，退款已经处理。"
    await eventually(lambda: _status_is(gw, cid, reply["id"], "sent"))


async def test_ascii_address_with_a_utf8_message_id_is_threaded_with_smtputf8(
    start_gateway: Callable[[int], Awaitable[Gateway]], utf8_relay: OptionsSink
) -> None:
    # The envelope is all ASCII: only the threading headers need SMTPUTF8.
    gw = await start_gateway(utf8_relay.port)
    await deliver_ok(gw, simple_mail(message_id="订单-7@例子.中国"), mail_options=["SMTPUTF8"])
    cid = (await conversation_of(gw.client, "订单-7@例子.中国"))["id"]
    await agent_reply(gw, cid, "ok")
    await eventually(lambda: utf8_relay.received)
    (sent,) = utf8_relay.received
    assert "SMTPUTF8" in [o.upper() for o in utf8_relay.mail_options[0]]
    assert sent.rcpt_tos == ["li.lei@example.cn"]
    mail = parse_utf8(sent.content)
    assert mail["In-Reply-To"] == "<订单-7@例子.中国>" and mail["References"] == "<订单-7@例子.中国>"
    assert "In-Reply-To: <订单-7@例子.中国>".encode() in header_lines(sent.content)


async def test_relay_without_smtputf8_fails_the_reply_for_good_naming_smtputf8(
    start_gateway: Callable[[int], Awaitable[Gateway]], ascii_relay: OptionsSink
) -> None:
    gw = await start_gateway(ascii_relay.port)
    await deliver_ok(gw, UTF8_MAIL, mail_from=CUSTOMER, rcpts=[f"客服@{DOMAIN}"], mail_options=["SMTPUTF8"])
    cid = (await conversation_of(gw.client, "客服-1@例子.中国"))["id"]
    reply = await agent_reply(gw, cid, "您好")
    await eventually(lambda: _status_is(gw, cid, reply["id"], "failed"))
    failed = await status_of(gw, cid, reply["id"])
    assert "SMTPUTF8" in failed["error"] and CUSTOMER in failed["error"]
    assert failed["attempts"] == 1  # final: no retries
    assert ascii_relay.received == []  # nothing mangled went out


async def test_ascii_reply_is_unchanged_even_where_the_relay_offers_smtputf8(
    start_gateway: Callable[[int], Awaitable[Gateway]], utf8_relay: OptionsSink
) -> None:
    gw = await start_gateway(utf8_relay.port)
    await deliver_ok(gw, simple_mail(message_id="a1@example.cn", subject="付款失败"))
    cid = (await conversation_of(gw.client, "a1@example.cn"))["id"]
    await agent_reply(gw, cid, "您好")
    await eventually(lambda: utf8_relay.received)
    (sent,) = utf8_relay.received
    assert "SMTPUTF8" not in [o.upper() for o in utf8_relay.mail_options[0]]
    assert sent.content.isascii()  # Chinese display name and subject as encoded words
    mail = parse_utf8(sent.content)
    assert mail["To"].addresses[0].addr_spec == "li.lei@example.cn"
    assert mail["From"].addresses[0].display_name == "Wallet Support 客服"
    assert mail["Subject"] == "Re: 付款失败" and mail["In-Reply-To"] == "<a1@example.cn>"


# deliver() on its own ----------------------------------------------------------------


def _relay(port: int) -> RelaySettings:
    return RelaySettings(
        host="127.0.0.1", port=port, username=None, password=None, starttls=False, use_tls=False, timeout=5
    )


def _compose(*, from_address: str = SUPPORT, to_address: str = "li.lei@example.cn", **kw: Any) -> EmailMessage:
    msg = compose(
        message_id=kw.pop("message_id", f"msg_1.tok@{DOMAIN}"),
        from_address=from_address,
        from_name="Wallet Support 客服",
        to_address=to_address,
        to_name="李雷",
        reply_to=from_address.replace("@", "+tok@"),
        subject="付款失败",
        text="您好",
        html_body=None,
        in_reply_to=kw.pop("in_reply_to", "q1@example.cn"),
        references=kw.pop("references", ["q0@example.cn", "q1@example.cn"]),
        automatic=False,
        now=datetime(2024, 3, 4, 10, 0, tzinfo=UTC),
    )
    msg.set_boundary("fixed-boundary-for-the-test")
    return msg


def test_only_addresses_and_message_ids_call_for_smtputf8() -> None:
    assert smtputf8_reasons(_compose(), sender=SUPPORT, recipients=["li.lei@example.cn"]) == []
    assert smtputf8_reasons(_compose(to_address=CUSTOMER), sender=SUPPORT, recipients=[CUSTOMER]) == [
        f"recipient address {CUSTOMER}"
    ]
    assert smtputf8_reasons(
        _compose(in_reply_to="客服-1@例子.中国", references=["客服-1@例子.中国"]),
        sender=SUPPORT,
        recipients=["li.lei@example.cn"],
    ) == ["Message-ID in In-Reply-To", "Message-ID in References"]


async def test_a_non_ascii_sender_address_is_sent_with_smtputf8(utf8_relay: OptionsSink) -> None:
    ours = f"客服@{DOMAIN}"
    result = await deliver(
        _compose(from_address=ours), sender=ours, recipient="li.lei@example.cn", relay=_relay(utf8_relay.port)
    )
    assert result.ok, result.error
    (sent,) = utf8_relay.received
    assert sent.mail_from == ours and "SMTPUTF8" in utf8_relay.mail_options[0]
    mail = parse_utf8(sent.content)
    assert mail["From"].addresses[0].addr_spec == ours
    assert mail["Reply-To"].addresses[0].addr_spec == f"客服+tok@{DOMAIN}"


async def test_utf8_message_ids_are_not_mangled_for_a_relay_without_smtputf8(ascii_relay: OptionsSink) -> None:
    msg = _compose(in_reply_to="客服-1@例子.中国", references=["客服-1@例子.中国"])
    result = await deliver(msg, sender=SUPPORT, recipient="li.lei@example.cn", relay=_relay(ascii_relay.port))
    assert not result.ok and not result.retryable
    assert result.error is not None and "SMTPUTF8" in result.error and "Message-ID in In-Reply-To" in result.error
    assert ascii_relay.received == []


async def test_ascii_mail_goes_out_byte_for_byte_as_aiosmtplib_send_delivers_it(
    utf8_relay: OptionsSink, ascii_relay: OptionsSink
) -> None:
    # What the gateway sent before SMTPUTF8 support: aiosmtplib.send(message, ...).
    for sink in (utf8_relay, ascii_relay):
        assert (await deliver(_compose(), sender=SUPPORT, recipient="li.lei@example.cn", relay=_relay(sink.port))).ok
        await aiosmtplib.send(
            _compose(), sender=SUPPORT, recipients=["li.lei@example.cn"], hostname="127.0.0.1", port=sink.port
        )
        ours, reference = sink.received
        assert ours.content == reference.content and ours.content.isascii()
        assert (ours.mail_from, ours.rcpt_tos) == (reference.mail_from, reference.rcpt_tos)
        assert sink.mail_options[0] == sink.mail_options[1]
        assert "SMTPUTF8" not in sink.mail_options[0]


async def _status_is(gw: Gateway, cid: str, message_id: str, status: str) -> bool:
    return (await status_of(gw, cid, message_id))["status"] == status
