"""Telegram over HTTP: the secret-token header, dedupe by chat and message id, media as
file_ids, edits and deletions, business chats, ignored updates, and sendMessage against
a fake Bot API server."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.channels.telegram.parse import parse_update
from gateway.model import Channel, IdentityKind, InboundMessage
from gateway.storage.base import Store
from gateway.wiring.services import SERVICES
from tests.channels.social_fakes import (
    FakeProvider,
    Recorded,
    conversations_of,
    gateway,
    message_status,
    messages_of,
    reply,
    start_fake,
)
from tests.conftest import eventually

BOT_TOKEN = "7012345678:AAH-test-bot-token-9xQ"
SECRET = "tg-secret-41c9-0"
CHAT = 493017265
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
_ids = itertools.count(1000)


def bot_answer(request: Recorded) -> tuple[int, Any]:
    sent = request.json
    return 200, {
        "ok": True,
        "result": {"message_id": next(_ids), "chat": {"id": sent["chat_id"], "type": "private"}, "text": sent["text"]},
    }


@pytest.fixture
async def bot_api(aiohttp_server: Any) -> tuple[FakeProvider, str]:
    fake = FakeProvider(bot_answer)
    return fake, await start_fake(aiohttp_server, fake)


@pytest.fixture
async def client(aiohttp_client: Any, store: Store, bot_api: tuple[FakeProvider, str]) -> TestClient:
    return await gateway(
        aiohttp_client,
        store,
        telegram={"bot_token": BOT_TOKEN, "secret_token": SECRET, "api_base_url": bot_api[1]},
    )


def user(**extra: Any) -> dict[str, Any]:
    return {"id": CHAT, "is_bot": False, "first_name": "小明", "last_name": "王", "username": "xiaoming_w", **extra}


def update(update_id: int, *, kind: str = "message", chat_type: str = "private", **message: Any) -> dict[str, Any]:
    body = {
        "message_id": update_id % 1000,
        "from": message.pop("sender", user(language_code="zh-hans")),
        "chat": {"id": CHAT if chat_type == "private" else -1001234567890, "type": chat_type, "first_name": "小明"},
        "date": int(time.time()) - 5,
        **message,
    }
    return {"update_id": update_id, kind: body}


async def post(client: TestClient, payload: Any) -> Any:
    resp = await client.post("/webhooks/telegram", data=json.dumps(payload, ensure_ascii=False), headers=HEADERS)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def stored(store: Store) -> list[Any]:
    return await messages_of(store, f"telegram:{CHAT}")


async def test_the_secret_token_header_is_required_and_must_match(client: TestClient, store: Store) -> None:
    body = json.dumps(update(870001, text="付款失败"))
    assert (await client.post("/webhooks/telegram", data=body)).status == 401
    wrong = {"X-Telegram-Bot-Api-Secret-Token": "tg-secret-41c8"}
    resp = await client.post("/webhooks/telegram", data=body, headers=wrong)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "bad_signature"
    assert await stored(store) == []


async def test_a_text_message_becomes_a_message_of_the_chat(client: TestClient, store: Store) -> None:
    answer = await post(client, update(870002, text="我的账户被冻结了，请帮忙解冻"))
    assert answer == {"ignored": False, "duplicate": False}
    [message] = await stored(store)
    assert message.text == "我的账户被冻结了，请帮忙解冻" and message.external_id == f"{CHAT}:2"
    assert message.sender.id == f"telegram:{CHAT}" and message.sender.name == "小明 王"
    assert message.meta["message_id"] == 2 and message.meta["username"] == "xiaoming_w"
    [conv] = await conversations_of(store, f"telegram:{CHAT}")
    assert conv.channel is Channel.TELEGRAM and conv.endpoint == "7012345678"


def test_the_language_code_is_the_routing_hint() -> None:
    [message] = parse_update(update(870003, text="help", sender=user(language_code="zh-hant")), endpoint="bot").events
    assert isinstance(message, InboundMessage) and message.language_hint == "zh-hant"
    [plain] = parse_update(update(870004, text="help", sender=user()), endpoint="bot").events
    assert isinstance(plain, InboundMessage) and plain.language_hint is None


async def test_media_become_attachments_with_their_file_ids(client: TestClient, store: Store) -> None:
    photo = [
        {"file_id": "AgACAgQAAx-small", "file_unique_id": "s", "width": 90, "height": 67, "file_size": 1203},
        {"file_id": "AgACAgQAAx-large", "file_unique_id": "l", "width": 1280, "height": 960, "file_size": 98211},
        {"file_id": "AgACAgQAAx-medium", "file_unique_id": "m", "width": 320, "height": 240, "file_size": 14555},
    ]
    await post(client, update(870010, photo=photo, caption="扣款截图"))
    document = {
        "file_id": "BQACAgQAAx-doc",
        "file_unique_id": "d",
        "file_name": "流水.pdf",
        "mime_type": "application/pdf",
        "file_size": 53211,
    }
    await post(client, update(870011, document=document))
    await post(
        client,
        update(
            870012,
            voice={"file_id": "AwACAgQAAx-voice", "file_unique_id": "v", "duration": 7, "mime_type": "audio/ogg"},
        ),
    )
    sticker = {
        "file_id": "CAACAgQAAx-sticker",
        "file_unique_id": "k",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "😭",
        "type": "regular",
    }
    await post(client, update(870013, sticker=sticker))
    by_id = {m.meta["message_id"]: m for m in await stored(store)}
    assert by_id[10].text == "扣款截图"
    assert [(a.media_id, a.content_type, a.size) for a in by_id[10].attachments] == [
        ("AgACAgQAAx-large", "image/jpeg", 98211)
    ]
    [doc] = by_id[11].attachments
    assert (doc.media_id, doc.name, doc.content_type) == ("BQACAgQAAx-doc", "流水.pdf", "application/pdf")
    assert by_id[11].text == "[document: 流水.pdf]"
    assert by_id[12].attachments[0].media_id == "AwACAgQAAx-voice" and by_id[12].meta["voice"] is True
    assert by_id[12].text == "[voice message]"
    assert by_id[13].text == "😭" and by_id[13].attachments[0].content_type == "image/webp"


async def test_a_redelivery_and_concurrent_redeliveries_store_one_message(client: TestClient, store: Store) -> None:
    body = json.dumps(update(870020, text="重复的消息"))
    answers = await asyncio.gather(*(client.post("/webhooks/telegram", data=body, headers=HEADERS) for _ in range(4)))
    assert [a.status for a in answers] == [200] * 4
    assert sorted([(await a.json())["duplicate"] for a in answers]) == [False, True, True, True]
    again = await client.post("/webhooks/telegram", data=body, headers=HEADERS)
    assert (await again.json())["duplicate"] is True
    assert [m.external_id for m in await stored(store)] == [f"{CHAT}:20"]


async def test_an_edit_changes_the_message_it_names(client: TestClient, store: Store) -> None:
    await post(client, update(870030, text="退款金额是 100 元"))
    edited = update(870031, kind="edited_message", text="退款金额是 1000 元", edit_date=int(time.time()))
    edited["edited_message"]["message_id"] = 30
    await post(client, edited)
    assert (await post(client, edited))["duplicate"] is True  # Telegram's retry
    [message] = await stored(store)
    assert message.text == "退款金额是 1000 元" and message.flags == ["edited"]
    assert message.meta["edit"]["original_text"] == "退款金额是 100 元" and message.meta["edit"]["edits"] == 1


async def test_groups_bots_and_other_update_kinds_are_acknowledged_and_ignored(
    client: TestClient, store: Store
) -> None:
    assert (await post(client, update(870040, chat_type="supergroup", text="群里的消息")))["ignored"] is True
    assert (await post(client, update(870041, text="/start", sender=user(is_bot=True))))["ignored"] is True
    inline = {"update_id": 870042, "callback_query": {"id": "4382", "from": user(), "inline_message_id": "x"}}
    assert (await post(client, inline))["ignored"] is True  # a button under an inline message: no chat
    query = {"update_id": 870043, "inline_query": {"id": "1", "from": user(), "query": "fees", "offset": ""}}
    assert await post(client, query) == {"ignored": True, "kind": "inline_query"}
    assert await stored(store) == []
    metrics = await (await client.get("/metrics")).text()
    assert 'gateway_inbound_ignored_total{channel="telegram",kind="supergroup_chat"}' in metrics
    assert 'gateway_inbound_ignored_total{channel="telegram",kind="bot_message"}' in metrics


async def test_malformed_updates_are_refused(client: TestClient) -> None:
    for body, status in (("{broken", 400), ("[1, 2]", 422), (json.dumps({"message": {"text": "no id"}}), 422)):
        resp = await client.post("/webhooks/telegram", data=body, headers=HEADERS)
        assert resp.status == status, body


async def test_sharing_ones_own_contact_links_the_phone_number(client: TestClient, store: Store) -> None:
    contact = {"phone_number": "+8613800138000", "first_name": "小明", "user_id": CHAT}
    await post(client, update(870050, contact=contact))
    someone_else = {"phone_number": "+8613900139000", "first_name": "朋友", "user_id": 111}
    await post(client, update(870051, contact=someone_else))
    [conv] = await conversations_of(store, f"telegram:{CHAT}")
    found = await store.get_contact(conv.contact_id)
    assert found is not None
    assert {(i.kind, i.value) for i in found.identities} == {
        (IdentityKind.TELEGRAM, str(CHAT)),
        (IdentityKind.PHONE, "+8613800138000"),
    }


async def test_a_reply_goes_to_the_chat_and_long_text_is_split_in_order(
    client: TestClient, store: Store, bot_api: tuple[FakeProvider, str]
) -> None:
    fake, _ = bot_api
    await post(client, update(870060, text="请问手续费怎么算"))
    [conv] = await conversations_of(store, f"telegram:{CHAT}")
    status, _ = await reply(client, conv.id, {"text": "手续费为 0.6%。"})
    assert status == 202
    [first] = await eventually(lambda: fake.to("/sendMessage"))
    assert first.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert first.json == {"chat_id": str(CHAT), "text": "手续费为 0.6%。"}

    paragraph = "第一步：打开钱包 💳 点击「账单」。" * 60 + "\n\n"
    text = (paragraph * 4).strip()  # about 5,000 UTF-16 units with the emoji
    status, long_reply = await reply(client, conv.id, {"text": text})
    assert status == 202
    await eventually(lambda: _sent(store, conv.id, long_reply["id"]))
    parts = [r.json["text"] for r in fake.to("/sendMessage")[1:]]
    assert len(parts) >= 2
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


async def _sent(store: Store, cid: str, mid: str) -> bool:
    return (await message_status(store, cid, mid))[0] == "sent"


async def test_a_blocked_bot_fails_at_once_and_a_server_error_is_retried(
    client: TestClient, store: Store, bot_api: tuple[FakeProvider, str]
) -> None:
    fake, _ = bot_api
    path = f"/bot{BOT_TOKEN}/sendMessage"
    blocked = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    fake.script(path, (403, blocked), (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}))
    await post(client, update(870070, text="你好"))
    [conv] = await conversations_of(store, f"telegram:{CHAT}")
    _, first = await reply(client, conv.id, {"text": "您好"})
    await eventually(lambda: _failed(store, conv.id, first["id"]))
    assert (await message_status(store, conv.id, first["id"]))[
        1
    ] == "telegram 403: Forbidden: bot was blocked by the user"
    _, second = await reply(client, conv.id, {"text": "再试一次"})
    await eventually(lambda: _sent(store, conv.id, second["id"]), timeout=30)
    assert len(fake.to("/sendMessage")) == 3


async def _failed(store: Store, cid: str, mid: str) -> bool:
    return (await message_status(store, cid, mid))[0] == "failed"


def test_the_bot_token_stays_out_of_the_adapter_repr(client: TestClient) -> None:
    [adapter] = [a for a in client.app[SERVICES].adapters if a.name == "telegram"]
    assert BOT_TOKEN not in repr(adapter) and SECRET not in repr(adapter)


async def test_a_split_reply_that_fails_half_way_resumes_without_repeating_parts(
    client: TestClient, store: Store, bot_api: tuple[FakeProvider, str]
) -> None:
    fake, _ = bot_api
    await post(client, update(870080, text="请把完整流程发给我"))
    [conv] = await conversations_of(store, f"telegram:{CHAT}")
    first_half, second_half = "一" * 4000, "二" * 1000
    original = fake.default

    def second_part_fails_once(request: Recorded) -> tuple[int, Any]:
        if request.json["text"].startswith("二") and not getattr(second_part_fails_once, "failed", False):
            second_part_fails_once.failed = True  # type: ignore[attr-defined]
            return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
        return original(request)

    fake.default = second_part_fails_once
    _, message = await reply(client, conv.id, {"text": first_half + "\n\n" + second_half})
    await eventually(lambda: _sent(store, conv.id, message["id"]), timeout=30)
    texts = [r.json["text"] for r in fake.to("/sendMessage")]
    assert texts == [first_half, second_half, second_half]


def test_split_text_keeps_every_character_and_cuts_at_natural_breaks() -> None:
    from gateway.channels.textparts import split_text, utf16_units

    unbroken = "😀" * 3000  # no break anywhere: a hard cut, never inside a character
    parts = split_text(unbroken, 4096, measure=utf16_units)
    assert [utf16_units(p) for p in parts] == [4096, 1904] and "".join(parts) == unbroken
    sentences = "您的退款已受理。" * 10
    parts = split_text(sentences, 30)
    assert all(len(p) <= 30 and p.endswith("。") for p in parts) and "".join(parts) == sentences
    assert split_text("short", 10) == ["short"]


async def test_locations_and_venues_become_text_with_coordinates(client: TestClient, store: Store) -> None:
    await post(client, update(870090, location={"latitude": 39.908823, "longitude": 116.39747}))
    venue = {
        "location": {"latitude": 31.2304, "longitude": 121.4737},
        "title": "工商银行",
        "address": "南京东路 100 号",
    }
    await post(client, update(870091, venue=venue, location=venue["location"]))
    first, second = await stored(store)
    assert first.meta["location"] == {"latitude": 39.908823, "longitude": 116.39747} and "39.908823" in first.text
    assert "工商银行, 南京东路 100 号" in second.text


def business(update_id: int, kind: str = "business_message", **message: Any) -> dict[str, Any]:
    body = update(update_id, kind=kind, **message)
    body[kind]["business_connection_id"] = "BCn7xQ"
    return body


async def test_business_chats_are_stored_edited_deleted_and_answered_as_the_business(
    client: TestClient, store: Store, bot_api: tuple[FakeProvider, str]
) -> None:
    fake, _ = bot_api
    await post(client, business(870100, text="你们几点营业？"))
    owner = {"id": 5550001, "is_bot": False, "first_name": "Shop"}
    echo = business(870101, text="we open at 9", sender=owner)
    assert (await post(client, echo))["ignored"] is True  # the owner's own message
    [conv] = await conversations_of(store, f"telegram:{CHAT}")
    assert conv.endpoint == "business:BCn7xQ"
    edited = business(870102, kind="edited_business_message", text="你们周日几点营业？", edit_date=int(time.time()))
    edited["edited_business_message"]["message_id"] = 100
    await post(client, edited)
    [message] = await store.get_messages(conv.id)
    assert message.text == "你们周日几点营业？" and message.external_id == f"BCn7xQ:{CHAT}:100"
    status, _ = await reply(client, conv.id, {"text": "周日 10 点"})
    assert status == 202
    [sent] = await eventually(lambda: fake.to("/sendMessage"))
    assert sent.json == {"chat_id": str(CHAT), "business_connection_id": "BCn7xQ", "text": "周日 10 点"}
    deleted = {
        "update_id": 870103,
        "deleted_business_messages": {
            "business_connection_id": "BCn7xQ",
            "chat": {"id": CHAT, "type": "private"},
            "message_ids": [100],
        },
    }
    await post(client, deleted)
    [message] = [m for m in await store.get_messages(conv.id) if m.direction == "inbound"]
    assert "deleted" in message.flags


async def test_dice_polls_and_web_app_data_read_as_lines_and_service_messages_are_counted(
    client: TestClient, store: Store
) -> None:
    await post(client, update(870110, dice={"emoji": "🎯", "value": 6}))
    options = [{"text": "Top-up", "voter_count": 0}, {"text": "Withdrawal", "voter_count": 0}]
    poll = {"id": "1", "question": "Which fee?", "options": options, "type": "regular", "is_anonymous": True}
    await post(client, update(870111, poll=poll))
    await post(client, update(870112, web_app_data={"data": "order=A-2291", "button_text": "Report"}))
    answer = await post(client, update(870113, write_access_allowed={"from_request": True}))
    assert answer == {"ignored": True, "kind": "service_write_access_allowed"}
    texts = [m.text for m in await stored(store)]
    assert texts == ["🎯 rolled 6", "📊 Which fee?\n1. Top-up\n2. Withdrawal", "[Report] order=A-2291"]
    [conv] = await conversations_of(store, f"telegram:{CHAT}")
    assert conv.message_count == 3
