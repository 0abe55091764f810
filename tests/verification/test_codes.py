"""Verification codes end to end, both stores, real HTTP: an agent asks for a code, it
goes by SMS (a fake Twilio REST API) or email (an aiosmtpd relay) on another channel than
the conversation's, the customer answers on any of their channels; the digits are kept
nowhere (storage, broker, logs, the agent's view); attempts, locks, expiry, cooldown and
send limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.cases.test_case_channels import smtp_port
from tests.channels.test_email_support import SUPPORT, RelaySink, simple_mail, smtp_send, start_relay
from tests.channels.twilio_helpers import FakeTwilio, fake_twilio, post_signed, sms_params
from tests.conftest import eventually
from tests.helpers import BOB_TOKEN, gateway_config
from tests.verification.support import (
    CUSTOMER,
    EMAIL,
    Clock,
    assert_nowhere,
    capture_logs,
    code_from,
    config,
    conversation,
    events,
    mail_texts,
    say,
    settle,
    sms_bodies,
    verify,
)


@pytest.fixture
async def relay() -> AsyncIterator[RelaySink]:
    sink = await start_relay(RelaySink())
    yield sink
    sink.server.close()


@pytest.fixture
async def twilio(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    return await fake_twilio(aiohttp_server)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def make_gateway(
    aiohttp_client: Any,
    store: Store,
    relay: RelaySink,
    twilio: tuple[FakeTwilio, str],
    clock: Clock,
    publisher: MemoryPublisher,
) -> Any:
    async def make(**verification: Any) -> TestClient:
        app = build_app(config(relay, twilio[1], **verification), store=store, publisher=publisher, clock=clock)
        return await aiohttp_client(app)

    return make


def failures(reason: str) -> float:
    return REGISTRY.get_sample_value("gateway_verification_failures_total", {"reason": reason}) or 0.0


async def test_a_code_by_sms_answered_in_the_api_channel_is_stored_nowhere(
    make_gateway: Any, store: Store, twilio: tuple[FakeTwilio, str], publisher: MemoryPublisher, caplog: Any
) -> None:
    logs = capture_logs(caplog)
    gateway = await make_gateway()
    cid = (await say(gateway, "我要修改绑定的手机号", phone=CUSTOMER, email=EMAIL))["conversation_id"]
    assert (await conversation(gateway, cid))["verification"]["state"] == "none"

    status, body = await verify(gateway, cid)
    assert status == 202, body
    assert body["via"] == "sms" and body["to"] == "+86 138****8000"  # another channel than the API's
    assert body["verification"]["state"] == "pending" and body["verification"]["attempts_left"] == 5
    await settle(gateway)
    [sent] = await eventually(lambda: sms_bodies(twilio[0]) or None)
    code = code_from(sent)
    assert "10 分钟" in sent and "10 minutes" in sent
    view = await conversation(gateway, cid)
    code_message = view["messages"][-1]
    assert code_message["text"] == "[verification code sent by SMS to +86 138****8000]"
    assert code_message["status"] == "sent" and code_message["sender"]["kind"] == "bot"

    wrong = "000000" if code != "000000" else "111111"
    await say(gateway, wrong, phone=CUSTOMER)
    view = await conversation(gateway, cid)
    assert view["verification"]["state"] == "pending" and view["verification"]["attempts_left"] == 4
    assert view["messages"][-1]["text"] == "[verification code: wrong, 4 attempts left]"

    await say(gateway, f"验证码 {code[:3]} {code[3:]}", phone=CUSTOMER)
    view = await conversation(gateway, cid)
    assert view["verification"]["state"] == "verified" and view["verification"]["method"] == "sms"
    assert view["verification"]["verified_at"] and view["verification"]["expires_at"]
    assert view["messages"][-1]["text"] == "[verification code: correct]"
    assert view["queue"] is not None and view["routing_version"] == 1  # the answers offered nothing new

    await eventually(lambda: events(publisher, "verification.succeeded") or None)
    [requested] = events(publisher, "verification.requested")
    assert requested["to"] == "+86 138****8000" and requested["via"] == "sms" and requested["conversation_id"] == cid
    [succeeded] = events(publisher, "verification.succeeded")
    assert succeeded["method"] == "sms" and succeeded["contact_id"] == view["contact_id"]
    await assert_nowhere(code, gateway, store, publisher, logs)


async def test_a_code_by_email_for_an_sms_conversation_answered_by_sms(
    make_gateway: Any, store: Store, relay: RelaySink, twilio: tuple[FakeTwilio, str], publisher: MemoryPublisher
) -> None:
    gateway = await make_gateway()
    await say(gateway, "hello", phone=CUSTOMER, email=EMAIL)  # the contact's phone and mailbox
    resp = await post_signed(gateway, "/webhooks/twilio/sms", sms_params(body="我的账户被锁了"))
    assert resp.status == 200
    listing = await eventually(lambda: conversations_on(gateway, "sms"))
    cid = listing[0]["id"]

    status, body = await verify(gateway, cid)
    assert status == 202 and body["via"] == "email" and body["to"] == "w***g@example.cn", body
    await settle(gateway)
    [(subject, text)] = await eventually(lambda: mail_texts(relay) or None)
    assert "Verification code" in subject
    code = code_from(text)

    resp = await post_signed(gateway, "/webhooks/twilio/sms", sms_params(body=code))
    assert resp.status == 200
    view = await conversation(gateway, cid)
    assert view["verification"]["state"] == "verified" and view["verification"]["method"] == "email"
    await settle(gateway)
    told = await eventually(lambda: [b for b in sms_bodies(twilio[0]) if "verified" in b] or None)
    assert "验证成功" in told[0]
    await assert_nowhere(code, gateway, store, publisher, type("NoLogs", (), {"records": []})())


async def test_the_customer_answers_by_email_with_the_code_mail_quoted(
    make_gateway: Any, relay: RelaySink, twilio: tuple[FakeTwilio, str], store: Store, publisher: MemoryPublisher
) -> None:
    gateway = await make_gateway()
    cid = (await say(gateway, "need help", email=EMAIL))["conversation_id"]
    status, body = await verify(gateway, cid, via="email")
    assert status == 202 and body["via"] == "email"
    await settle(gateway)
    [(subject, text)] = await eventually(lambda: mail_texts(relay) or None)
    code = code_from(text)
    quoted = "\n".join(f"> {line}" for line in text.splitlines())
    question = await smtp_send(  # not an answer, but the code mail quoted: the code is cut out
        smtp_port(gateway),
        simple_mail(
            message_id="question-1@example.cn",
            sender=EMAIL,
            to=SUPPORT,
            subject=f"Re: {subject}",
            text=f"Where do I type this?\n\nOn Tue, Support wrote:\n{quoted}",
        ),
        mail_from=EMAIL,
        rcpts=[SUPPORT],
    )
    assert question.data is not None and question.data[0] == 250
    [by_mail] = await eventually(lambda: conversations_on(gateway, "email"))
    view = await conversation(gateway, by_mail["id"])
    assert view["messages"][-1]["text"] == "Where do I type this?"  # the quote is not the text …
    assert "[verification code]" in str(view["messages"][-1]["meta"])  # … and the code is cut from it
    assert view["verification"]["state"] == "pending" and view["queue"] is not None  # an ordinary message
    answer = await smtp_send(
        smtp_port(gateway),
        simple_mail(
            message_id="answer-1@example.cn",
            sender=EMAIL,
            to=SUPPORT,
            subject=f"Re: {subject}",
            text=f"{code}\n\nOn Tue, Support wrote:\n{quoted}",
        ),
        mail_from=EMAIL,
        rcpts=[SUPPORT],
    )
    assert answer.data is not None and answer.data[0] == 250
    assert (await conversation(gateway, cid))["verification"]["state"] == "verified"
    await assert_nowhere(code, gateway, store, publisher, type("NoLogs", (), {"records": []})())


async def conversations_on(client: TestClient, channel: str) -> list[dict[str, Any]] | None:
    from tests.verification.support import call

    listing = (await call(client, "GET", "/api/v1/conversations?limit=50", "ops-token-for-tests"))[1]
    found = [c for c in listing["conversations"] if c["channel"] == channel]
    return found or None


async def test_wrong_codes_lock_it_and_are_counted(
    make_gateway: Any, twilio: tuple[FakeTwilio, str], publisher: MemoryPublisher
) -> None:
    gateway = await make_gateway()  # the defaults: 5 attempts
    cid = (await say(gateway, "退款", phone=CUSTOMER))["conversation_id"]
    assert (await verify(gateway, cid))[0] == 202
    await settle(gateway)
    code = code_from((await eventually(lambda: sms_bodies(twilio[0]) or None))[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    before_wrong, before_locked = failures("wrong_code"), failures("locked")
    for left in (4, 3, 2, 1):
        await say(gateway, wrong, phone=CUSTOMER)
        assert (await conversation(gateway, cid))["verification"]["attempts_left"] == left
    await say(gateway, wrong, phone=CUSTOMER)  # the fifth
    view = await conversation(gateway, cid)
    assert view["verification"]["state"] == "failed" and view["verification"]["reason"] == "max_attempts"
    assert view["messages"][-1]["text"] == "[verification code: wrong, locked after too many attempts]"
    await say(gateway, code, phone=CUSTOMER)  # the right code, too late: an ordinary message, the code cut out
    view = await conversation(gateway, cid)
    assert view["verification"]["state"] == "failed"
    assert view["messages"][-1]["text"] == "[verification code]"
    assert failures("wrong_code") == before_wrong + 4 and failures("locked") == before_locked + 1
    [failed] = await eventually(lambda: events(publisher, "verification.failed") or None)
    assert failed["reason"] == "max_attempts" and failed["conversation_id"] == cid


async def test_a_code_expires_unanswered(
    make_gateway: Any, clock: Clock, twilio: tuple[FakeTwilio, str], publisher: MemoryPublisher
) -> None:
    gateway = await make_gateway(ttl="5m")
    cid = (await say(gateway, "改密码", phone=CUSTOMER))["conversation_id"]
    assert (await verify(gateway, cid))[0] == 202
    await settle(gateway)
    code = code_from((await eventually(lambda: sms_bodies(twilio[0]) or None))[0])
    clock.advance(301)
    assert (await conversation(gateway, cid))["verification"]["state"] == "expired"
    await settle(gateway)
    [failed] = await eventually(lambda: events(publisher, "verification.failed") or None)
    assert failed["reason"] == "expired"
    await say(gateway, code, phone=CUSTOMER)  # too late: an ordinary message, the code cut out
    view = await conversation(gateway, cid)
    assert view["verification"]["state"] == "expired"
    assert view["messages"][-1]["text"] == "[verification code]"


async def test_resend_after_and_the_send_limits(
    make_gateway: Any, clock: Clock, twilio: tuple[FakeTwilio, str]
) -> None:
    gateway = await make_gateway(resend_after="60s", max_sends_per_destination=2)
    cid = (await say(gateway, "hi", phone=CUSTOMER))["conversation_id"]
    assert (await verify(gateway, cid))[0] == 202
    await settle(gateway)
    first = code_from((await eventually(lambda: sms_bodies(twilio[0]) or None))[0])

    resp = await gateway.post(
        f"/api/v1/conversations/{cid}/verify", json={}, headers={"Authorization": "Bearer alice-token-for-tests"}
    )
    assert resp.status == 429 and (await resp.json())["error"]["code"] == "resend_too_soon"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60

    clock.advance(61)
    assert (await verify(gateway, cid))[0] == 202
    await settle(gateway)
    second = code_from((await eventually(lambda: sms_bodies(twilio[0])[1:] or None))[0])
    if first != second:  # the first code is void: a wrong answer now
        await say(gateway, first, phone=CUSTOMER)
        assert (await conversation(gateway, cid))["verification"]["attempts_left"] == 4

    clock.advance(61)
    before = failures("rate_limited")
    status, body = await verify(gateway, cid)
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert failures("rate_limited") == before + 1
    await say(gateway, second, phone=CUSTOMER)
    assert (await conversation(gateway, cid))["verification"]["state"] == "verified"


async def test_refusals(make_gateway: Any, aiohttp_client: Any, store: Store) -> None:
    gateway = await make_gateway(via=["sms"])
    no_phone = (await say(gateway, "hi", user="u-9", email=EMAIL))["conversation_id"]
    status, body = await verify(gateway, no_phone)
    assert status == 409 and body["error"]["code"] == "no_destination"
    status, body = await verify(gateway, no_phone, via="email")
    assert status == 422 and body["error"]["code"] == "invalid"
    status, body = await verify(gateway, "cv_nope")
    assert status == 404
    status, body = await verify(gateway, no_phone, token="ops-token-for-tests")
    assert status == 403
    claimed = (await say(gateway, "hi", user="u-8", phone="+8613900139000"))["conversation_id"]
    resp = await gateway.post(
        f"/api/v1/conversations/{claimed}/claim", headers={"Authorization": f"Bearer {BOB_TOKEN}"}
    )
    assert resp.status == 200
    status, body = await verify(gateway, claimed)  # alice, on bob's conversation
    assert status == 403 and body["error"]["code"] == "not_assignee"
    resp = await gateway.post(
        f"/api/v1/conversations/{claimed}/verify", data=b"{not json", headers={"Authorization": f"Bearer {BOB_TOKEN}"}
    )
    assert resp.status == 400

    off = await aiohttp_client(build_app(gateway_config(), store=store, publisher=MemoryPublisher()))
    status, body = await verify(off, claimed)
    assert status == 404 and body["error"]["code"] == "verification_off"
