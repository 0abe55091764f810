"""WhatsApp Cloud API over HTTP: handshake, signatures over raw bytes, batches, media,
statuses, the 24-hour window and templates, against a fake Graph API server."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.model import Channel, Identity, IdentityKind, InboundMessage
from gateway.storage.base import Store
from gateway.wiring.services import SERVICES
from tests.channels.social_fakes import (
    FakeProvider,
    Recorded,
    conversations_of,
    gateway,
    hub_signature,
    message_status,
    messages_of,
    reply,
    start_fake,
)
from tests.conftest import eventually

APP_SECRET = "wa-app-secret-7c1e"
VERIFY_TOKEN = "wa-verify-91d2-0"
ACCESS_TOKEN = "wa-access-token-5b8f"
CONFIG_NUMBER_ID = "109876543210"  # the configured default sender
NUMBER_ID = "106540352242922"  # the number customers write to in these payloads
WANG = "8613800138000"
CHAN = "85291234567"


def graph_answer(request: Recorded) -> tuple[int, Any]:
    to = request.json["to"]
    return 200, {
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": f"wamid.OUT{len(request.body)}{time.monotonic_ns()}"}],
    }


@pytest.fixture
async def graph(aiohttp_server: Any) -> tuple[FakeProvider, str]:
    fake = FakeProvider(graph_answer)
    return fake, await start_fake(aiohttp_server, fake, "/v21.0")


@pytest.fixture
async def client(aiohttp_client: Any, store: Store, graph: tuple[FakeProvider, str]) -> TestClient:
    return await gateway(
        aiohttp_client,
        store,
        whatsapp={
            "app_secret": APP_SECRET,
            "verify_token": VERIFY_TOKEN,
            "access_token": ACCESS_TOKEN,
            "phone_number_id": CONFIG_NUMBER_ID,
            "api_base_url": graph[1],
        },
    )


def ts(seconds_ago: float = 0) -> str:
    return str(int(time.time() - seconds_ago))


def text_message(wamid: str, body: str, *, sender: str = WANG, seconds_ago: float = 0) -> dict[str, Any]:
    return {"from": sender, "id": wamid, "timestamp": ts(seconds_ago), "type": "text", "text": {"body": body}}


def value(
    messages: list[dict[str, Any]] | None = None,
    *,
    contacts: dict[str, str] | None = None,
    statuses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    v: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER_ID},
    }
    if contacts is not None:
        v["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id} for wa_id, name in contacts.items()]
    if messages is not None:
        v["messages"] = messages
    if statuses is not None:
        v["statuses"] = statuses
    return v


def delivery(*entries: list[dict[str, Any]]) -> dict[str, Any]:
    """A webhook body: one entry per argument, one change per value in it."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": f"10293847561{i}", "changes": [{"value": v, "field": "messages"} for v in values]}
            for i, values in enumerate(entries)
        ],
    }


def signed(payload: Any) -> tuple[bytes, dict[str, str]]:
    """Serialised as Meta does: non-ASCII escaped (``\\u4ed8``), signed over those bytes."""
    body = json.dumps(payload).encode()
    return body, {"X-Hub-Signature-256": hub_signature(APP_SECRET, body), "Content-Type": "application/json"}


async def post(client: TestClient, payload: Any) -> Any:
    body, headers = signed(payload)
    resp = await client.post("/webhooks/whatsapp", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def conversation_id(store: Store, wa_id: str = WANG) -> str:
    [conv] = await conversations_of(store, f"phone:+{wa_id}")
    return conv.id


async def test_verification_handshake_echoes_the_challenge_only_for_the_right_token(client: TestClient) -> None:
    good = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    resp = await client.get("/webhooks/whatsapp", params=good)
    assert resp.status == 200 and await resp.text() == "1158201444"
    assert resp.content_type == "text/plain"
    for params in (
        {**good, "hub.verify_token": "wa-verify-wrong"},
        {**good, "hub.mode": "unsubscribe"},
    ):
        assert (await client.get("/webhooks/whatsapp", params=params)).status == 403, params
    assert (await client.get("/webhooks/whatsapp", params={"hub.challenge": "1158201444"})).status == 401
    missing = {k: v for k, v in good.items() if k != "hub.challenge"}
    assert (await client.get("/webhooks/whatsapp", params=missing)).status == 400


async def test_unsigned_or_wrongly_signed_deliveries_are_refused_and_store_nothing(
    client: TestClient, store: Store
) -> None:
    body, _ = signed(delivery([value([text_message("wamid.A1", "付款失败")])]))
    unsigned = await client.post("/webhooks/whatsapp", data=body)
    assert unsigned.status == 401
    wrong = await client.post(
        "/webhooks/whatsapp", data=body, headers={"X-Hub-Signature-256": hub_signature("not-the-secret", body)}
    )
    assert wrong.status == 403 and (await wrong.json())["error"]["code"] == "bad_signature"
    tampered = body.replace(b"wamid.A1", b"wamid.A2")
    headers = {"X-Hub-Signature-256": hub_signature(APP_SECRET, body)}
    assert (await client.post("/webhooks/whatsapp", data=tampered, headers=headers)).status == 403
    assert await messages_of(store, f"phone:+{WANG}") == []


async def test_chinese_text_sent_escaped_verifies_against_the_raw_bytes(client: TestClient, store: Store) -> None:
    payload = delivery(
        [value([text_message("wamid.ZH1", "付款失败了，卡号 4111 1111 1111 1111 被扣款")], contacts={WANG: "王小明"})]
    )
    body, headers = signed(payload)
    assert b"\\u4ed8" in body  # 付 as Meta sends it
    # A verifier that re-serialised the JSON would hash different bytes:
    assert hub_signature(APP_SECRET, json.dumps(payload, ensure_ascii=False).encode()) != headers["X-Hub-Signature-256"]
    resp = await client.post("/webhooks/whatsapp", data=body, headers=headers)
    assert resp.status == 200 and (await resp.json())["stored"] == 1
    [message] = await messages_of(store, f"phone:+{WANG}")
    assert message.text == "付款失败了，卡号 **** **** **** 1111 被扣款"
    assert message.sender.name == "王小明" and message.channel is Channel.WHATSAPP


async def test_every_entry_and_change_of_a_batch_is_stored_with_its_content(client: TestClient, store: Store) -> None:
    now = int(time.time())
    entry_one = [
        value(
            [
                text_message("wamid.W1", "我的转账一直显示处理中", seconds_ago=60),
                {
                    "from": WANG,
                    "id": "wamid.W2",
                    "timestamp": str(now - 50),
                    "type": "image",
                    "image": {
                        "caption": "转账截图",
                        "mime_type": "image/jpeg",
                        "sha256": "aGFzaA==",
                        "id": "1479537139650973",
                    },
                },
            ],
            contacts={WANG: "王小明"},
        ),
        value(
            [
                {
                    "from": CHAN,
                    "id": "wamid.C1",
                    "timestamp": str(now - 40),
                    "type": "location",
                    "location": {
                        "latitude": 22.2783,
                        "longitude": 114.1747,
                        "name": "銅鑼灣分行",
                        "address": "軒尼詩道 500 號",
                    },
                },
                {
                    "from": CHAN,
                    "id": "wamid.C2",
                    "timestamp": str(now - 30),
                    "type": "text",
                    "text": {"body": "Still not refunded"},
                    "context": {"from": "15550783881", "id": "wamid.OURS1"},
                },
            ],
            contacts={CHAN: "Chan Tai Man"},
        ),
    ]
    entry_two = [
        value(
            [
                {
                    "from": WANG,
                    "id": "wamid.W3",
                    "timestamp": str(now - 20),
                    "type": "document",
                    "document": {
                        "filename": "账单.pdf",
                        "mime_type": "application/pdf",
                        "id": "880011223344",
                        "caption": "本月账单",
                    },
                },
                {
                    "from": WANG,
                    "id": "wamid.W4",
                    "timestamp": str(now - 10),
                    "type": "audio",
                    "audio": {"mime_type": "audio/ogg; codecs=opus", "id": "990011223344", "voice": True},
                },
                {
                    "from": WANG,
                    "id": "wamid.W5",
                    "timestamp": str(now - 5),
                    "type": "reaction",
                    "reaction": {"message_id": "wamid.OURS2", "emoji": "👍"},
                },
            ],
            contacts={WANG: "王小明"},
        )
    ]
    answer = await post(client, delivery(entry_one, entry_two))
    assert answer == {"stored": 7, "duplicates": 0, "amended": 0, "statuses_applied": 0, "skipped": 0, "unreadable": 0}

    wang = {m.external_id: m for m in await messages_of(store, f"phone:+{WANG}")}
    assert list(wang) == ["wamid.W1", "wamid.W2", "wamid.W3", "wamid.W4", "wamid.W5"]
    assert wang["wamid.W1"].provider_ts is not None and int(wang["wamid.W1"].provider_ts.timestamp()) == now - 60
    image = wang["wamid.W2"]
    assert image.text == "转账截图"
    assert [(a.media_id, a.content_type) for a in image.attachments] == [("1479537139650973", "image/jpeg")]
    document = wang["wamid.W3"].attachments[0]
    assert (document.media_id, document.name, document.content_type) == ("880011223344", "账单.pdf", "application/pdf")
    voice = wang["wamid.W4"]
    assert voice.attachments[0].content_type == "audio/ogg; codecs=opus" and voice.meta["voice"] is True
    reaction = wang["wamid.W5"]
    assert reaction.text == "👍" and reaction.flags == ["reaction"]
    assert reaction.meta["reaction"] == {"message_id": "wamid.OURS2", "emoji": "👍", "action": "react"}

    chan = {m.external_id: m for m in await messages_of(store, f"phone:+{CHAN}")}
    assert chan["wamid.C1"].meta["location"]["latitude"] == 22.2783 and "銅鑼灣分行" in chan["wamid.C1"].text
    assert chan["wamid.C2"].meta["reply_to"] == "wamid.OURS1"
    assert chan["wamid.C2"].sender.name == "Chan Tai Man"
    [conv] = await conversations_of(store, f"phone:+{CHAN}")
    assert conv.endpoint == NUMBER_ID and conv.channel is Channel.WHATSAPP
    assert conv.window_expires_at is not None
    assert abs(conv.window_expires_at.timestamp() - (now - 30 + 24 * 3600)) < 2  # by the provider's clock


async def test_redelivery_and_concurrent_redelivery_create_each_message_once(client: TestClient, store: Store) -> None:
    payload = delivery(
        [value([text_message("wamid.R1", "退款什么时候到账"), text_message("wamid.R2", "订单号 88231")])]
    )
    body, headers = signed(payload)
    answers = await asyncio.gather(*(client.post("/webhooks/whatsapp", data=body, headers=headers) for _ in range(4)))
    assert [a.status for a in answers] == [200] * 4
    counts = [await a.json() for a in answers]
    assert sum(c["stored"] for c in counts) == 2 and sum(c["duplicates"] for c in counts) == 6
    again = await post(client, payload)
    assert again["stored"] == 0 and again["duplicates"] == 2
    assert [m.external_id for m in await messages_of(store, f"phone:+{WANG}")] == ["wamid.R1", "wamid.R2"]


async def test_malformed_or_misdirected_bodies_are_refused(client: TestClient) -> None:
    for raw, status in ((b"{not json", 400), (b"\xff\xfe", 400), (b"[]", 422)):
        headers = {"X-Hub-Signature-256": hub_signature(APP_SECRET, raw)}
        resp = await client.post("/webhooks/whatsapp", data=raw, headers=headers)
        assert resp.status == status, raw
    body, headers = signed({"object": "page", "entry": []})
    resp = await client.post("/webhooks/whatsapp", data=body, headers=headers)
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "wrong_object"


async def test_unreadable_events_are_not_acknowledged_but_the_rest_of_the_batch_is_stored(
    client: TestClient, store: Store
) -> None:
    bad = text_message("wamid.BAD", "hello", sender="not-a-number")
    no_id = {"from": WANG, "timestamp": ts(), "type": "text", "text": {"body": "no id"}}
    body, headers = signed(delivery([value([bad, no_id, text_message("wamid.OK", "能帮我查一下吗")])]))
    resp = await client.post("/webhooks/whatsapp", data=body, headers=headers)
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "unreadable_events"
    assert [m.text for m in await messages_of(store, f"phone:+{WANG}")] == ["能帮我查一下吗"]
    again = await client.post("/webhooks/whatsapp", data=body, headers=headers)  # Meta's redelivery
    assert again.status == 422
    assert [m.text for m in await messages_of(store, f"phone:+{WANG}")] == ["能帮我查一下吗"]


async def test_a_whatsapp_message_lands_on_the_contact_who_texted_by_sms(client: TestClient, store: Store) -> None:
    ingest = client.app[SERVICES].ingest
    sms = await ingest.accept(
        InboundMessage(
            channel=Channel.SMS,
            external_id="SM8f2c1e0a",
            endpoint="+15005550006",
            sender=Identity(kind=IdentityKind.PHONE, value=f"+{WANG}"),
            text="短信：付款失败",
        )
    )
    await post(client, delivery([value([text_message("wamid.S1", "WhatsApp 上再问一次")], contacts={WANG: "王小明"})]))
    convs = await conversations_of(store, f"phone:+{WANG}")
    assert {c.channel for c in convs} == {Channel.SMS, Channel.WHATSAPP}
    assert {c.contact_id for c in convs} == {sms.contact_id}
    contact = await store.get_contact(sms.contact_id)
    assert contact is not None and contact.name == "王小明"


async def test_replies_go_as_text_from_the_number_written_to_and_statuses_move_forward_only(
    client: TestClient, store: Store, graph: tuple[FakeProvider, str]
) -> None:
    fake, _ = graph
    await post(client, delivery([value([text_message("wamid.IN1", "请问退款进度")])]))
    cid = await conversation_id(store)
    status, message = await reply(client, cid, {"text": "您好，退款已在处理中"})
    assert status == 202
    [sent] = await eventually(lambda: fake.to("/messages"))
    assert sent.path == f"/v21.0/{NUMBER_ID}/messages"
    assert sent.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert sent.json["to"] == WANG and sent.json["type"] == "text"
    assert sent.json["text"]["body"] == "您好，退款已在处理中" and sent.json["messaging_product"] == "whatsapp"
    await eventually(lambda: _status_is(store, cid, message["id"], "sent"))
    stored = await store.get_message(cid, message["id"])
    assert stored is not None and stored.external_id and stored.external_id.startswith("wamid.OUT")
    wamid = stored.external_id

    def report(status: str, **extra: Any) -> dict[str, Any]:
        return {"id": wamid, "status": status, "timestamp": ts(), "recipient_id": WANG, **extra}

    answer = await post(client, delivery([value(statuses=[report("read")])], [value(statuses=[report("delivered")])]))
    assert answer["statuses_applied"] == 1  # the late "delivered" does not undo "read"
    assert await message_status(store, cid, message["id"]) == ("read", None)

    status, second = await reply(client, cid, {"text": "请回复确认"})
    await eventually(lambda: _status_is(store, cid, second["id"], "sent"))
    second_stored = await store.get_message(cid, second["id"])
    assert second_stored is not None
    failed = {
        "id": second_stored.external_id,
        "status": "failed",
        "timestamp": ts(),
        "recipient_id": WANG,
        "errors": [
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "Message failed to send because more than 24 hours have passed."},
            }
        ],
    }
    await post(client, delivery([value(statuses=[failed])]))
    state, error = await message_status(store, cid, second["id"])
    assert state == "failed" and error is not None
    assert error.startswith("131047 Re-engagement message") and "24 hours" in error


async def _status_is(store: Store, cid: str, mid: str, status: str) -> bool:
    return (await message_status(store, cid, mid))[0] == status


async def test_after_24_hours_free_text_is_409_and_a_template_goes_out_as_a_template(
    client: TestClient, store: Store, graph: tuple[FakeProvider, str]
) -> None:
    fake, _ = graph
    await post(client, delivery([value([text_message("wamid.OLD", "在吗？", seconds_ago=25 * 3600)])]))
    await post(client, delivery([value([text_message("wamid.FRESH", "在吗？", sender=CHAN, seconds_ago=23 * 3600)])]))
    closed = await conversation_id(store)
    open_ = await conversation_id(store, CHAN)

    status, body = await reply(client, closed, {"text": "抱歉回复晚了"})
    assert status == 409 and body["error"]["code"] == "window_closed"
    template = {"name": "payment_followup", "language": "zh_CN", "params": ["王小明", "ORD-2024-0001"]}
    status, message = await reply(client, closed, {"template": template})
    assert status == 202
    [sent] = await eventually(lambda: fake.to("/messages"))
    assert sent.json["type"] == "template" and sent.json["to"] == WANG
    assert sent.json["template"] == {
        "name": "payment_followup",
        "language": {"code": "zh_CN"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "王小明"}, {"type": "text", "text": "ORD-2024-0001"}],
            }
        ],
    }
    await eventually(lambda: _status_is(store, closed, message["id"], "sent"))

    status, _ = await reply(client, open_, {"text": "still within the window"})
    assert status == 202
    await eventually(lambda: len(fake.to("/messages")) == 2)
    assert fake.to("/messages")[1].json["type"] == "text"


async def test_a_re_engagement_error_fails_at_once_and_a_server_error_is_retried(
    client: TestClient, store: Store, graph: tuple[FakeProvider, str]
) -> None:
    fake, _ = graph
    path = f"/v21.0/{NUMBER_ID}/messages"
    re_engagement = {
        "error": {
            "message": "(#131047) Re-engagement message",
            "type": "OAuthException",
            "code": 131047,
            "error_data": {"messaging_product": "whatsapp", "details": "More than 24 hours have passed."},
            "fbtrace_id": "AbCdEf123",
        }
    }
    fake.script(path, (400, re_engagement), (503, {"error": {"message": "Service unavailable", "code": 2}}))
    await post(client, delivery([value([text_message("wamid.E1", "hello")])]))
    cid = await conversation_id(store)

    _, first = await reply(client, cid, {"text": "first"})
    await eventually(lambda: _status_is(store, cid, first["id"], "failed"))
    _, error = await message_status(store, cid, first["id"])
    assert error is not None and "131047" in error and "template" in error
    _, second = await reply(client, cid, {"text": "second"})
    await eventually(lambda: _status_is(store, cid, second["id"], "sent"), timeout=30)
    assert len(fake.to("/messages")) == 3  # one refusal, one 503, one success
    stored = await store.get_message(cid, second["id"])
    assert stored is not None and stored.attempts >= 1


def test_secrets_stay_out_of_the_adapter_repr(client: TestClient) -> None:
    [adapter] = [a for a in client.app[SERVICES].adapters if a.name == "whatsapp"]
    text = repr(adapter)
    assert ACCESS_TOKEN not in text and APP_SECRET not in text and VERIFY_TOKEN not in text


def test_buttons_contacts_stickers_removed_reactions_and_unsupported_types_are_read() -> None:
    from gateway.channels.meta.whatsapp_parse import parse_whatsapp

    now = ts()
    messages = [
        {
            "from": WANG,
            "id": "wamid.I1",
            "timestamp": now,
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "refund_yes", "title": "是的，申请退款"}},
        },
        {
            "from": WANG,
            "id": "wamid.I2",
            "timestamp": now,
            "type": "button",
            "button": {"text": "联系客服", "payload": "AGENT"},
        },
        {
            "from": WANG,
            "id": "wamid.I3",
            "timestamp": now,
            "type": "contacts",
            "contacts": [
                {"name": {"formatted_name": "李雷"}, "phones": [{"phone": "+86 139 0013 9000", "type": "CELL"}]}
            ],
        },
        {
            "from": WANG,
            "id": "wamid.I4",
            "timestamp": now,
            "type": "sticker",
            "sticker": {"mime_type": "image/webp", "id": "5566778899", "animated": True},
        },
        {
            "from": WANG,
            "id": "wamid.I5",
            "timestamp": now,
            "type": "reaction",
            "reaction": {"message_id": "wamid.OURS", "emoji": ""},
        },
        {
            "from": WANG,
            "id": "wamid.I6",
            "timestamp": now,
            "type": "unsupported",
            "errors": [{"code": 131051, "title": "Message type unknown"}],
        },
    ]
    statuses = [
        {"id": "wamid.S1", "status": "deleted", "timestamp": now},  # not a state we track
        {"id": "wamid.S2", "status": "failed", "timestamp": now},  # failed without errors[]
    ]
    batch = parse_whatsapp(delivery([value(messages, statuses=statuses)]))
    found = {m.external_id: m for m in batch.messages}
    assert found["wamid.I1"].text == "是的，申请退款" and found["wamid.I1"].meta["interactive"]["id"] == "refund_yes"
    assert found["wamid.I2"].text == "联系客服" and found["wamid.I2"].meta["button"]["payload"] == "AGENT"
    assert found["wamid.I3"].text == "👤 李雷 +86 139 0013 9000"
    assert found["wamid.I4"].attachments[0].media_id == "5566778899" and found["wamid.I4"].meta["animated"] is True
    assert found["wamid.I5"].meta["reaction"]["action"] == "unreact" and found["wamid.I5"].route is False
    assert found["wamid.I6"].flags == ["unsupported"] and found["wamid.I6"].route is True
    assert found["wamid.I6"].text == "[unsupported WhatsApp message — Message type unknown]"
    assert found["wamid.I4"].text == "[sticker]" and found["wamid.I5"].text == "[reaction removed]"
    [failed] = batch.statuses
    assert failed.external_id == "wamid.S2" and failed.error == "failed (no reason given)"
    assert batch.skipped == 1 and batch.problems == []
