"""A complaint followed on the customer's own channel, both stores, providers as real local
servers: email (our SMTP server in, an aiosmtpd relay out), SMS (a fake Twilio REST API)
and web chat (a real websocket). Open → progress → a merchant brought in by email, whose
reply lands on the case and never reaches the customer → extension → resolution → the
rating request and the customer's score."""

from __future__ import annotations

import email
import email.policy
import itertools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.channels.email import EmailChannel
from gateway.model import Channel
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from gateway.wiring.services import SERVICES
from tests.cases.support import call, case_of, open_case, write_workflow
from tests.channels.test_email_support import DOMAIN, SUPPORT, RelaySink, simple_mail, smtp_send, start_relay
from tests.channels.test_webchat import ORIGIN, Visitor, conversation_of
from tests.channels.twilio_helpers import (
    CUSTOMER,
    PUBLIC_URL,
    FakeTwilio,
    fake_twilio,
    post_signed,
    sms_params,
    twilio_section,
)
from tests.conftest import eventually
from tests.helpers import API_SECRET, OPS_TOKEN, gateway_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
MERCHANT = "refunds@shop.example"
_ids = itertools.count(1)


@pytest.fixture
async def relay() -> AsyncIterator[RelaySink]:
    sink = await start_relay(RelaySink())
    yield sink
    sink.server.close()


@pytest.fixture
async def twilio(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    return await fake_twilio(aiohttp_server)


@pytest.fixture
async def gateway(
    aiohttp_client: Any, store: Store, relay: RelaySink, twilio: tuple[FakeTwilio, str], tmp_path: Path
) -> TestClient:
    config = gateway_config(
        http={"public_url": PUBLIC_URL},
        smtp={"enabled": True, "host": "127.0.0.1", "port": 0, "domains": [DOMAIN]},
        channels={
            "api": {"secret": API_SECRET},
            "email": {
                "address": SUPPORT,
                "reply_token_secret": "case-mail-token-secret",
                "relay": {"host": "127.0.0.1", "port": relay.port, "starttls": False, "timeout": 5},
            },
            "twilio": twilio_section(api_base_url=twilio[1]),
            "webchat": {"allowed_origins": [ORIGIN]},
        },
        reply_tracking={"scan_interval": "0.05s"},
        csat={"enabled": True},
        cases={"file": str(write_workflow(tmp_path))},
    )
    return await aiohttp_client(build_app(config, store=store, publisher=MemoryPublisher()))


def smtp_port(client: TestClient) -> int:
    adapter = client.app[SERVICES].adapter_for(Channel.EMAIL)
    assert isinstance(adapter, EmailChannel) and adapter.smtp_port
    return adapter.smtp_port


def parsed(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def plain_text(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""  # type: ignore[union-attr]


def mails_to(relay: RelaySink, address: str) -> list[EmailMessage]:
    return [parsed(r.content) for r in relay.received if address in r.rcpt_tos]


class Customer:
    """Someone writing on one channel, and what reached them there."""

    async def write(self, text: str) -> str:  # the conversation id
        raise NotImplementedError

    async def received(self) -> list[str]:
        raise NotImplementedError


class EmailCustomer(Customer):
    address = "wang.fang@example.cn"

    def __init__(self, client: TestClient, relay: RelaySink) -> None:
        self.client, self.relay = client, relay

    async def write(self, text: str) -> str:
        ours = mails_to(self.relay, self.address)
        headers = ""
        to = SUPPORT
        if ours:  # answering our latest mail, as a mail client does
            headers = f"In-Reply-To: {ours[-1]['Message-ID']}\r\nReferences: {ours[-1]['Message-ID']}\r\n"
            to = str(ours[-1]["Reply-To"].addresses[0].addr_spec)
        mail_id = f"cust-{next(_ids)}@example.cn"
        answer = await smtp_send(
            smtp_port(self.client),
            simple_mail(
                message_id=mail_id, sender=self.address, to=to, subject="重复扣款", text=text, extra_headers=headers
            ),
            mail_from=self.address,
            rcpts=[to],
        )
        assert answer.data is not None and answer.data[0] == 250, answer
        listing = (await call(self.client, "GET", "/api/v1/conversations?limit=50", token=OPS_TOKEN))[1]
        for conv in listing["conversations"]:
            if conv["channel"] == "email" and "case_party" not in conv["flags"]:
                return str(conv["id"])
        raise AssertionError("no email conversation")

    async def received(self) -> list[str]:
        return [plain_text(m) for m in mails_to(self.relay, self.address)]


class SmsCustomer(Customer):
    def __init__(self, client: TestClient, twilio: FakeTwilio) -> None:
        self.client, self.twilio = client, twilio

    async def write(self, text: str) -> str:
        resp = await post_signed(self.client, "/webhooks/twilio/sms", sms_params(body=text))
        assert resp.status == 200, await resp.text()
        listing = (await call(self.client, "GET", "/api/v1/conversations?limit=50", token=OPS_TOKEN))[1]
        return str(next(c["id"] for c in listing["conversations"] if c["channel"] == "sms"))

    async def received(self) -> list[str]:
        return [str(fields["Body"]) for _, fields in self.twilio.received if fields.get("To") == CUSTOMER]


class WebchatCustomer(Customer):
    def __init__(self, client: TestClient) -> None:
        self.tab = Visitor(client, ORIGIN)
        self.client = client
        self.seen: list[str] = []

    async def write(self, text: str) -> str:
        if not self.tab.welcome:
            await self.tab.hello(name="王芳", language="zh-CN")
        await self.tab.say(f"w-{next(_ids)}", text)
        return str((await conversation_of(self.client, self.tab.visitor_id))["id"])

    async def received(self) -> list[str]:
        await self.tab.until_marker()  # every frame sent to the socket so far is in
        for frame in list(self.tab.inbox):
            body = frame.get("message") or {}
            if frame.get("type") == "message" and body.get("from") == "agent":
                self.seen.append(str(body.get("text")))
                self.tab.inbox.remove(frame)
        return self.seen


def customer_on(channel: str, client: TestClient, relay: RelaySink, twilio: FakeTwilio) -> Customer:
    if channel == "email":
        return EmailCustomer(client, relay)
    if channel == "sms":
        return SmsCustomer(client, twilio)
    return WebchatCustomer(client)


async def told(customer: Customer, *words: str, count: int | None = None) -> list[str]:
    """Wait until a message holding all ``words`` reached the customer; everything they got."""

    async def check() -> list[str] | None:
        texts = await customer.received()
        hit = any(all(w in t for w in words) for t in texts)
        return texts if hit and (count is None or len(texts) == count) else None

    return await eventually(check, timeout=30)


@pytest.mark.parametrize("channel", ["email", "sms", "webchat"])
async def test_a_complaint_from_opening_to_rating_on_the_customers_channel(
    channel: str, gateway: TestClient, relay: RelaySink, twilio: tuple[FakeTwilio, str]
) -> None:
    customer = customer_on(channel, gateway, relay, twilio[0])
    cid = await customer.write("我被重复扣款了 99 元，订单 2024")
    opened = await open_case(gateway, cid, summary="订单 2024 重复扣款 99 元")
    number = opened["number"]
    await told(customer, number, "受理", count=1)

    await call(
        gateway, "POST", f"/api/v1/cases/{number}/progress", json={"stage": "investigating", "note": "已联系商户核实"}
    )
    await told(customer, "已联系商户核实", count=2)

    status, with_party = await call(
        gateway, "POST", f"/api/v1/cases/{number}/parties", json={"kind": "merchant", "name": "好店", "email": MERCHANT}
    )
    assert status == 201 and with_party["parties"][0]["email"] == MERCHANT
    [to_merchant] = await eventually(lambda: mails_to(relay, MERCHANT) or None, timeout=30)
    body = plain_text(to_merchant)
    assert number in str(to_merchant["Subject"]) and number in body and "订单 2024 重复扣款 99 元" in body
    reply_to = to_merchant["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("support+") and reply_to.endswith(f"@{DOMAIN}")
    merchant_says = "经核实，第二笔扣款为系统重复，已发起退款"
    answer = await smtp_send(
        smtp_port(gateway),
        simple_mail(
            message_id=f"m-{next(_ids)}@shop.example",
            sender=MERCHANT,
            to=reply_to,
            subject=f"Re: {to_merchant['Subject']}",
            text=f"{merchant_says}\n\n> {body.splitlines()[0]}",
            extra_headers=f"In-Reply-To: {to_merchant['Message-ID']}\r\n",
        ),
        mail_from=MERCHANT,
        rcpts=[reply_to],
    )
    assert answer.data is not None and answer.data[0] == 250

    async def merchant_on_the_case() -> dict[str, Any] | None:
        case = await case_of(gateway, number)
        return case if any(e["kind"] == "party_reply" for e in case["timeline"]) else None

    case = await eventually(merchant_on_the_case, timeout=30)
    reply = next(e for e in case["timeline"] if e["kind"] == "party_reply")
    assert reply["internal"] is True and reply["note"].startswith(merchant_says) and reply["by"] == "好店"
    party_conv = (await call(gateway, "GET", f"/api/v1/conversations/{reply['conversation_id']}"))[1]
    assert party_conv["queue"] is None and party_conv["flags"] == ["case_party"]  # never offered to agents

    until = (datetime.now(SHANGHAI) + timedelta(days=20)).date()
    status, _ = await call(
        gateway,
        "POST",
        f"/api/v1/cases/{number}/extend",
        json={"until": until.isoformat(), "reason": "等待商户退款到账"},
    )
    assert status == 200
    await told(customer, "等待商户退款到账", f"{until.year}年{until.month}月{until.day}日", count=3)

    status, _ = await call(gateway, "POST", f"/api/v1/cases/{number}/resolve", json={"resolution": "99 元已退回原卡"})
    assert status == 200
    texts = await told(customer, "请为本次服务评分", count=5)
    assert "99 元已退回原卡" in texts[3] and texts[4].startswith("请为本次服务评分")
    assert not any(merchant_says in t for t in texts)  # the merchant's words never reach the customer

    await customer.write("5")
    await told(customer, "感谢您的评价", count=6)
    conv = (await call(gateway, "GET", f"/api/v1/conversations/{cid}"))[1]
    assert conv["attributes"]["rating"]["score"] == 5
    case = await case_of(gateway, number)
    assert case["stage"] == "resolved"
    notified = [e for e in case["timeline"] if e["kind"] == "customer_notified"]
    assert len(notified) == 4 and {e["channel"] for e in notified} == {channel}
