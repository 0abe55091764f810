"""WhatsApp through Twilio: ``whatsapp:+…`` senders on the SMS webhook become WhatsApp
conversations of the customer's phone contact; replies go back through Twilio with the
``whatsapp:`` prefix, inside the 24-hour window as text and after it only as a Content
template — against a fake Twilio REST API, over both stores."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.model import Channel
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.channels.social_fakes import conversations_of, messages_of
from tests.channels.twilio_helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CUSTOMER,
    PUBLIC_URL,
    FakeTwilio,
    fake_twilio,
    post_signed,
    sid,
    sms_params,
)
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, auth, gateway_config

SMS = "/webhooks/twilio/sms"
WA_NUMBER = "+14155238886"  # our Twilio WhatsApp sender
CONTENT_SID = "HX" + "b5b62575e6e4ff6129ad7c8efe1f983e"


def wa_params(message_sid: str | None = None, *, body: str = "我的退款到哪了？", **extra: str) -> list[tuple[str, str]]:
    """An inbound WhatsApp message as Twilio posts it to the messaging webhook."""
    params = sms_params(message_sid or sid("SM"), body=body, sender=f"whatsapp:{CUSTOMER}", **extra)
    params = [(k, f"whatsapp:{WA_NUMBER}" if k == "To" else v) for k, v in params]
    return [
        *params,
        ("ProfileName", "王小明"),
        ("WaId", CUSTOMER.lstrip("+")),
        ("MessageType", extra.get("MessageType", "text")),
    ]


@pytest.fixture
async def twilio_api(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    return await fake_twilio(aiohttp_server)


@pytest.fixture
def clock() -> list[float]:
    return [time.time()]


@pytest.fixture
async def client(
    aiohttp_client: Any, store: Store, twilio_api: tuple[FakeTwilio, str], clock: list[float]
) -> TestClient:
    twilio = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_base_url": twilio_api[1]}
    config = gateway_config(http={"public_url": PUBLIC_URL}, channels={"twilio": twilio})
    app = build_app(config, store=store, publisher=MemoryPublisher(), clock=lambda: clock[0])
    return await aiohttp_client(app)


async def reply(client: TestClient, cid: str, **body: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"/api/v1/conversations/{cid}/messages", json=body, headers=auth(ALICE_TOKEN))
    return resp.status, await resp.json()


async def whatsapp_conversation(store: Store) -> str:
    [conv] = [c for c in await conversations_of(store, f"phone:{CUSTOMER}") if c.channel is Channel.WHATSAPP]
    return conv.id


async def test_a_whatsapp_message_through_twilio_is_stored_on_the_phone_contact(
    client: TestClient, store: Store
) -> None:
    sms = await post_signed(client, SMS, sms_params(sid("SM"), body="短信：付款失败"))
    assert sms.status == 200
    message_sid = sid("SM")
    resp = await post_signed(client, SMS, wa_params(message_sid))
    assert resp.status == 200 and resp.content_type == "text/xml"
    convs = await conversations_of(store, f"phone:{CUSTOMER}")
    assert {c.channel for c in convs} == {Channel.SMS, Channel.WHATSAPP} and len({c.contact_id for c in convs}) == 1
    [wa] = [c for c in convs if c.channel is Channel.WHATSAPP]
    assert wa.endpoint == f"whatsapp:{WA_NUMBER}" and wa.window_expires_at is not None
    [message] = await store.get_messages(wa.id)
    assert message.text == "我的退款到哪了？" and message.sender.name == "王小明"
    assert message.external_id == message_sid and message.meta["via"] == "twilio"
    assert (await post_signed(client, SMS, wa_params(message_sid))).status == 200  # Twilio's retry
    assert len(await store.get_messages(wa.id)) == 1


async def test_locations_buttons_and_media_read_as_lines(client: TestClient, store: Store) -> None:
    await post_signed(
        client,
        SMS,
        wa_params(
            body="",
            MessageType="location",
            Latitude="22.2783",
            Longitude="114.1747",
            Label="銅鑼灣分行",
            Address="軒尼詩道 500 號",
        ),
    )
    await post_signed(
        client,
        SMS,
        wa_params(body="Talk to an agent", MessageType="button", ButtonText="Talk to an agent", ButtonPayload="AGENT"),
    )
    photo = [("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg")]
    await post_signed(client, SMS, [*wa_params(body="", MessageType="image"), ("NumMedia", "1"), *_media(photo)])
    texts = [m.text for m in await messages_of(store, f"phone:{CUSTOMER}")]
    assert texts == ["📍 銅鑼灣分行, 軒尼詩道 500 號 (22.2783, 114.1747)", "Talk to an agent", "[photo]"]


def _media(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for n, (url, content_type) in enumerate(items):
        out += [(f"MediaUrl{n}", url), (f"MediaContentType{n}", content_type)]
    return out


async def test_replies_go_through_twilio_with_the_whatsapp_prefix_and_status_callbacks_apply(
    client: TestClient, store: Store, twilio_api: tuple[FakeTwilio, str]
) -> None:
    fake, _ = twilio_api
    await post_signed(client, SMS, wa_params())
    cid = await whatsapp_conversation(store)
    status, message = await reply(client, cid, text="您好，退款已在处理中")
    assert status == 202
    [(authorization, sent)] = await eventually(lambda: fake.received)
    assert authorization == FakeTwilio.basic_auth()
    assert (sent["To"], sent["From"], sent["Body"]) == (
        f"whatsapp:{CUSTOMER}",
        f"whatsapp:{WA_NUMBER}",
        "您好，退款已在处理中",
    )
    assert sent["StatusCallback"] == f"{PUBLIC_URL}/webhooks/twilio/status?channel=whatsapp"
    stored = await eventually(lambda: _sent(store, cid, message["id"]))
    callback = [("MessageSid", stored.external_id), ("MessageStatus", "read"), ("AccountSid", ACCOUNT_SID)]
    resp = await post_signed(client, "/webhooks/twilio/status?channel=whatsapp", callback)
    assert resp.status == 200
    after = await store.get_message(cid, message["id"])
    assert after is not None and after.status is not None and after.status.value == "read"


async def _sent(store: Store, cid: str, mid: str) -> Any:
    message = await store.get_message(cid, mid)
    return message if message is not None and message.external_id else None


async def test_after_24_hours_only_a_content_template_goes(
    client: TestClient, store: Store, twilio_api: tuple[FakeTwilio, str], clock: list[float]
) -> None:
    fake, _ = twilio_api
    await post_signed(client, SMS, wa_params())
    cid = await whatsapp_conversation(store)
    clock[0] += 25 * 3600
    status, body = await reply(client, cid, text="还在吗？")
    assert status == 409 and body["error"]["code"] == "window_closed"
    template = {"name": CONTENT_SID, "params": ["王小明", "ORD-2024-0001"]}
    status, _ = await reply(client, cid, template=template)
    assert status == 202
    [(_, sent)] = await eventually(lambda: fake.received)
    assert sent["ContentSid"] == CONTENT_SID and "Body" not in sent
    assert json.loads(sent["ContentVariables"]) == {"1": "王小明", "2": "ORD-2024-0001"}
    assert (sent["To"], sent["From"]) == (f"whatsapp:{CUSTOMER}", f"whatsapp:{WA_NUMBER}")


async def test_a_template_that_names_no_content_sid_fails_clearly(
    client: TestClient, store: Store, twilio_api: tuple[FakeTwilio, str]
) -> None:
    await post_signed(client, SMS, wa_params())
    cid = await whatsapp_conversation(store)
    status, message = await reply(client, cid, template={"name": "payment_followup", "language": "zh_CN"})
    assert status == 202
    failed = await eventually(lambda: _failed(store, cid, message["id"]))
    assert "HX" in failed and twilio_api[0].received == []


async def _failed(store: Store, cid: str, mid: str) -> str | None:
    message = await store.get_message(cid, mid)
    return (
        message.error
        if message is not None and message.status is not None and message.status.value == "failed"
        else None
    )


async def test_sms_conversations_still_have_no_templates(client: TestClient, store: Store) -> None:
    await post_signed(client, SMS, sms_params(sid("SM")))
    [conv] = await conversations_of(store, f"phone:{CUSTOMER}")
    status, body = await reply(client, conv.id, template={"name": CONTENT_SID})
    assert status == 422 and body["error"]["code"] == "templates_unsupported"
