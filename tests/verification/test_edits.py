"""An edit of a stored message (Telegram here; WhatsApp and Messenger edits take the same
path) is no answer to a verification code, but its text is stored, published as
``message.edited`` and indexed: the pending or recent code is cut out of it as ingest cuts
it from a new message. Both stores, real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.redaction import CODE_CUT, cut_codes
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.channels.social_fakes import conversations_of
from tests.channels.test_email_support import RelaySink, start_relay
from tests.channels.twilio_helpers import fake_twilio
from tests.conftest import eventually
from tests.helpers import OPS_TOKEN
from tests.verification.support import (
    CUSTOMER,
    Clock,
    assert_nowhere,
    call,
    capture_logs,
    code_from,
    config,
    conversation,
    events,
    settle,
    sms_bodies,
    verify,
)

BOT_TOKEN = "7012345678:AAH-test-bot-token-9xQ"
SECRET = "tg-secret-41c9-0"
CHAT = 493017265
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}


@pytest.fixture
async def relay() -> AsyncIterator[RelaySink]:
    sink = await start_relay(RelaySink())
    yield sink
    sink.server.close()


def update(update_id: int, message_id: int, *, kind: str = "message", **message: Any) -> dict[str, Any]:
    sender = {"id": CHAT, "is_bot": False, "first_name": "小明"}
    body = {"message_id": message_id, "from": sender, "chat": {"id": CHAT, "type": "private"}, **message}
    return {"update_id": update_id, kind: {"date": int(time.time()) - 5, **body}}


async def post(client: TestClient, payload: Any) -> Any:
    resp = await client.post("/webhooks/telegram", data=json.dumps(payload, ensure_ascii=False), headers=HEADERS)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_an_edit_holding_the_code_keeps_it_nowhere(
    aiohttp_client: Any, aiohttp_server: Any, store: Store, relay: RelaySink, caplog: Any
) -> None:
    logs = capture_logs(caplog)
    twilio, twilio_url = await fake_twilio(aiohttp_server)
    publisher = MemoryPublisher()
    telegram = {"telegram": {"bot_token": BOT_TOKEN, "secret_token": SECRET, "api_base_url": twilio_url}}
    app = build_app(config(relay, twilio_url, channels=telegram), store=store, publisher=publisher, clock=Clock())
    gateway = await aiohttp_client(app)

    contact = {"phone_number": CUSTOMER, "first_name": "小明", "user_id": CHAT}
    await post(gateway, update(880001, 1, contact=contact))
    await post(gateway, update(880002, 2, text="我要修改绑定的手机号"))
    [conv] = await conversations_of(store, f"telegram:{CHAT}")
    cid = conv.id
    status, body = await verify(gateway, cid)
    assert status == 202 and body["via"] == "sms", body
    await settle(gateway)
    [sent] = await eventually(lambda: sms_bodies(twilio) or None)
    code = code_from(sent)

    # The customer edits their earlier message to hold the code (superscript digits too).
    superscript = code.translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    edit = update(880003, 2, kind="edited_message", text=f"验证码 {code[:3]} {code[3:]}，或 {superscript}")
    edit["edited_message"]["edit_date"] = int(time.time())
    await post(gateway, edit)

    view = await conversation(gateway, cid)
    [edited] = [m for m in view["messages"] if "edited" in m["flags"]]
    assert edited["text"] == f"验证码 {CODE_CUT}，或 {CODE_CUT}"
    [event] = await eventually(lambda: events(publisher, "message.edited") or None)
    assert event["text"] == edited["text"]
    assert view["verification"]["state"] == "pending"  # an edit is no answer
    status, found = await call(gateway, "GET", f"/api/v1/conversations?q={code}", OPS_TOKEN)
    assert status == 200 and found["conversations"] == []  # no gw:sx:<code> key
    await assert_nowhere(code, gateway, store, publisher, logs)


def test_codes_are_cut_in_every_digit_form_codes_are_read_in() -> None:
    """``codes.code_in`` reads an answer after NFKC, so the cut knows the same digits."""
    texts = ["123456", "１２３ ４５６", "¹²³⁴⁵⁶", "①②③④⑤⑥", "⑫③④⑤⑥", "١٢٣٤٥٦", "x-1-2-3-4-5-6."]
    assert cut_codes(texts, ["123456"]) == [CODE_CUT, CODE_CUT, CODE_CUT, CODE_CUT, CODE_CUT, CODE_CUT, f"x-{CODE_CUT}."]
    assert cut_codes(["1234567", "¹123456", "123456⑦"], ["123456"]) == ["1234567", "¹123456", "123456⑦"]
