"""Messenger and Instagram over HTTP: batches with echoes, reactions, deletions and
delivery/read events; the Send API with the HUMAN_AGENT tag after 24 hours."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.model import Channel, IdentityKind
from gateway.storage.base import Store
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

FB_SECRET = "fb-app-secret-4d7a"
IG_SECRET = "ig-app-secret-2e9b"
FB_TOKEN = "fb-page-token-8c3f"
IG_TOKEN = "ig-access-token-6a1d"
PAGE_ID = "112233445566778"
IG_ACCOUNT = "17841400000000001"
PSID = "5511223344556677"
PSID_2 = "7788990011223344"
IGSID = "6655443322110099"


def send_answer(request: Recorded) -> tuple[int, Any]:
    return 200, {"recipient_id": request.json["recipient"]["id"], "message_id": f"m_OUT{time.monotonic_ns()}"}


@pytest.fixture
async def graph(aiohttp_server: Any) -> tuple[FakeProvider, str]:
    fake = FakeProvider(send_answer)
    return fake, await start_fake(aiohttp_server, fake, "/v21.0")


@pytest.fixture
def make_gateway(
    aiohttp_client: Any, store: Store, graph: tuple[FakeProvider, str]
) -> Callable[..., Awaitable[TestClient]]:
    async def make(*, human_agent_tag: bool = False) -> TestClient:
        return await gateway(
            aiohttp_client,
            store,
            messenger={
                "app_secret": FB_SECRET,
                "verify_token": "fb-verify-5e6f-0",
                "page_access_token": FB_TOKEN,
                "page_id": PAGE_ID,
                "api_base_url": graph[1],
                "human_agent_tag": human_agent_tag,
            },
            instagram={
                "app_secret": IG_SECRET,
                "verify_token": "ig-verify-3c2b-0",
                "access_token": IG_TOKEN,
                "api_base_url": graph[1],
                "human_agent_tag": human_agent_tag,
            },
        )

    return make


@pytest.fixture
async def client(make_gateway: Callable[..., Awaitable[TestClient]]) -> TestClient:
    return await make_gateway()


def ms(seconds_ago: float = 0) -> int:
    return int((time.time() - seconds_ago) * 1000)


def event(sender: str, recipient: str = PAGE_ID, *, seconds_ago: float = 0, **body: Any) -> dict[str, Any]:
    return {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": ms(seconds_ago), **body}


def text_event(sender: str, mid: str, text: str, recipient: str = PAGE_ID, seconds_ago: float = 0) -> dict[str, Any]:
    return event(sender, recipient, seconds_ago=seconds_ago, message={"mid": mid, "text": text})


def page_delivery(*entries: list[dict[str, Any]], obj: str = "page") -> dict[str, Any]:
    owner = PAGE_ID if obj == "page" else IG_ACCOUNT
    return {"object": obj, "entry": [{"id": owner, "time": ms(), "messaging": events} for events in entries]}


async def post(client: TestClient, path: str, payload: Any, secret: str) -> Any:
    body = json.dumps(payload).encode()  # non-ASCII escaped, as Meta sends it
    resp = await client.post(path, data=body, headers={"X-Hub-Signature-256": hub_signature(secret, body)})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def messenger(client: TestClient, payload: Any) -> Any:
    return await post(client, "/webhooks/messenger", payload, FB_SECRET)


async def instagram(client: TestClient, payload: Any) -> Any:
    return await post(client, "/webhooks/instagram", payload, IG_SECRET)


async def test_a_messenger_batch_stores_every_event_and_skips_echoes(client: TestClient, store: Store) -> None:
    first = [
        text_event(PSID, "m_A1", "我的钱包被锁了，怎么解锁？"),
        event(
            PSID,
            message={
                "mid": "m_A2",
                "attachments": [
                    {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/t1/receipt.jpg"}}
                ],
            },
        ),
        event(PAGE_ID, PSID, message={"mid": "m_ECHO", "text": "我们的回复", "is_echo": True, "app_id": 1517}),
    ]
    second = [
        event(PSID_2, message={"mid": "m_B1", "text": "Is my refund done?", "reply_to": {"mid": "m_OURS_1"}}),
        event(PSID, reaction={"mid": "m_OURS_2", "action": "react", "reaction": "love", "emoji": "❤"}),
        event(PSID_2, delivery={"mids": ["m_UNKNOWN_1"], "watermark": ms()}),
        event(PSID_2, read={"watermark": ms()}),
        event(PSID_2, postback={"mid": "m_PB1", "title": "联系人工客服", "payload": "HUMAN"}),
    ]
    answer = await messenger(client, page_delivery(first, second))
    # Skipped: the echo. The watermarks of PSID_2 are looked at; it has no replies to mark.
    assert answer["stored"] == 5 and answer["skipped"] == 1 and answer["unreadable"] == 0
    assert answer["statuses_applied"] == 0

    mine = {m.external_id: m for m in await messages_of(store, f"messenger:{PSID}")}
    assert mine["m_A1"].text == "我的钱包被锁了，怎么解锁？" and mine["m_A1"].sender.id == f"messenger:{PSID}"
    [image] = mine["m_A2"].attachments
    assert image.url == "https://scontent.xx.fbcdn.net/v/t1/receipt.jpg" and image.content_type == "image/*"
    assert "m_ECHO" not in mine
    [reaction] = [m for m in mine.values() if "reaction" in m.flags]
    assert reaction.text == "❤" and reaction.meta["reaction"]["message_id"] == "m_OURS_2"
    theirs = {m.external_id: m for m in await messages_of(store, f"messenger:{PSID_2}")}
    assert theirs["m_B1"].meta["reply_to"] == "m_OURS_1"
    assert theirs["m_PB1"].text == "联系人工客服" and theirs["m_PB1"].meta["postback"] == {"payload": "HUMAN"}
    [conv] = await conversations_of(store, f"messenger:{PSID}")
    assert conv.endpoint == PAGE_ID and conv.channel is Channel.MESSENGER
    # The reaction is stored but is not work for an agent: one offer for the conversation.
    assert conv.routing_version == 1


async def test_instagram_messages_deletions_shares_and_reads(client: TestClient, store: Store) -> None:
    payload = page_delivery(
        [
            text_event(IGSID, "aWdfZAG1faXRlbToxOklH", "付款页面一直转圈", recipient=IG_ACCOUNT),
            event(
                IGSID,
                IG_ACCOUNT,
                message={
                    "mid": "aWdfZAG1faXRlbToxOklI",
                    "attachments": [{"type": "story_mention", "payload": {"url": "https://lookaside.fbsbx.com/story"}}],
                },
            ),
            event(IGSID, IG_ACCOUNT, message={"mid": "aWdfZAG1faXRlbToxOklH", "is_deleted": True}),
        ],
        obj="instagram",
    )
    answer = await instagram(client, payload)
    assert (answer["stored"], answer["amended"]) == (2, 1)
    found = {m.external_id: m for m in await messages_of(store, f"instagram:{IGSID}")}
    assert list(found) == ["aWdfZAG1faXRlbToxOklH", "aWdfZAG1faXRlbToxOklI"]  # the deletion is no new message
    assert found["aWdfZAG1faXRlbToxOklI"].text == "mentioned you in their story https://lookaside.fbsbx.com/story"
    unsent = found["aWdfZAG1faXRlbToxOklH"]
    assert unsent.text == "付款页面一直转圈" and "deleted" in unsent.flags and unsent.meta["deleted_at"]
    [conv] = await conversations_of(store, f"instagram:{IGSID}")
    assert conv.endpoint == IG_ACCOUNT and conv.channel is Channel.INSTAGRAM
    contact = await store.get_contact(conv.contact_id)
    assert contact is not None and [i.kind for i in contact.identities] == [IdentityKind.INSTAGRAM]


async def test_delivery_and_read_events_move_our_messages_forward(
    client: TestClient, store: Store, graph: tuple[FakeProvider, str]
) -> None:
    fake, _ = graph
    await messenger(client, page_delivery([text_event(PSID, "m_Q1", "转账失败")]))
    await instagram(
        client, page_delivery([text_event(IGSID, "ig_Q1", "转账失败", recipient=IG_ACCOUNT)], obj="instagram")
    )
    [fb_conv] = await conversations_of(store, f"messenger:{PSID}")
    [ig_conv] = await conversations_of(store, f"instagram:{IGSID}")
    _, fb_reply = await reply(client, fb_conv.id, {"text": "已为您查询"})
    _, ig_reply = await reply(client, ig_conv.id, {"text": "已为您查询"})
    await eventually(lambda: len(fake.to("/messages")) == 2)
    fb_sent = await eventually(lambda: _external_id(store, fb_conv.id, fb_reply["id"]))
    ig_sent = await eventually(lambda: _external_id(store, ig_conv.id, ig_reply["id"]))
    paths = {r.path: r for r in fake.to("/messages")}
    assert paths[f"/v21.0/{PAGE_ID}/messages"].headers["Authorization"] == f"Bearer {FB_TOKEN}"
    assert paths["/v21.0/me/messages"].headers["Authorization"] == f"Bearer {IG_TOKEN}"
    assert paths["/v21.0/me/messages"].json == {
        "recipient": {"id": IGSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "已为您查询"},
    }

    answer = await messenger(client, page_delivery([event(PSID, delivery={"mids": [fb_sent], "watermark": ms()})]))
    assert answer["statuses_applied"] == 1
    assert (await message_status(store, fb_conv.id, fb_reply["id"]))[0] == "delivered"
    await instagram(client, page_delivery([event(IGSID, IG_ACCOUNT, read={"mid": ig_sent})], obj="instagram"))
    assert (await message_status(store, ig_conv.id, ig_reply["id"]))[0] == "read"


async def _external_id(store: Store, cid: str, mid: str) -> str | None:
    message = await store.get_message(cid, mid)
    return message.external_id if message and message.status and message.status.value == "sent" else None


async def test_without_the_human_agent_tag_a_reply_after_24_hours_is_refused(
    client: TestClient, store: Store, graph: tuple[FakeProvider, str]
) -> None:
    fake, _ = graph
    await messenger(client, page_delivery([text_event(PSID, "m_OLD2", "两天前的问题", seconds_ago=2 * 86400)]))
    [late] = await conversations_of(store, f"messenger:{PSID}")
    status, body = await reply(client, late.id, {"text": "抱歉久等"})
    assert status == 409 and body["error"]["code"] == "window_closed"
    assert await store.get_messages(late.id) and fake.to("/messages") == []


async def test_human_agent_tag_allows_replies_for_seven_days_when_enabled(
    make_gateway: Callable[..., Awaitable[TestClient]], store: Store, graph: tuple[FakeProvider, str]
) -> None:
    fake, _ = graph
    tagged = await make_gateway(human_agent_tag=True)  # the only gateway on this store: it alone sends
    day = 86400
    # HUMAN_AGENT counts 7 days from the customer's last message: 6.5 days is in, 7.5 is out.
    await messenger(tagged, page_delivery([text_event(PSID, "m_OLD6", "六天半前的问题", seconds_ago=6.5 * day)]))
    await messenger(tagged, page_delivery([text_event(PSID_2, "m_OLD7", "七天半前的问题", seconds_ago=7.5 * day)]))
    await messenger(tagged, page_delivery([text_event("9900112233445566", "m_NEW", "刚刚的问题")]))
    [six_days] = await conversations_of(store, f"messenger:{PSID}")
    [seven_days] = await conversations_of(store, f"messenger:{PSID_2}")
    [fresh] = await conversations_of(store, "messenger:9900112233445566")

    status, body = await reply(tagged, seven_days.id, {"text": "抱歉久等"})
    assert status == 409 and body["error"]["code"] == "window_closed"
    status, _ = await reply(tagged, six_days.id, {"text": "抱歉久等"})
    assert status == 202
    status, _ = await reply(tagged, fresh.id, {"text": "马上处理"})
    assert status == 202
    await eventually(lambda: len(fake.to("/messages")) == 2)
    by_recipient = {r.json["recipient"]["id"]: r.json for r in fake.to("/messages")}
    assert by_recipient[PSID]["messaging_type"] == "MESSAGE_TAG" and by_recipient[PSID]["tag"] == "HUMAN_AGENT"
    assert by_recipient["9900112233445566"]["messaging_type"] == "RESPONSE"
    assert "tag" not in by_recipient["9900112233445566"]


async def test_an_outside_window_refusal_fails_at_once_with_a_clear_reason(
    client: TestClient, store: Store, graph: tuple[FakeProvider, str]
) -> None:
    fake, _ = graph
    refusal = {
        "error": {
            "message": "(#10) This message is sent outside of allowed window.",
            "type": "OAuthException",
            "code": 10,
            "error_subcode": 2018278,
            "fbtrace_id": "H7u2xYz",
        }
    }
    fake.script(f"/v21.0/{PAGE_ID}/messages", (400, refusal))
    await messenger(client, page_delivery([text_event(PSID, "m_W1", "hello")]))
    [conv] = await conversations_of(store, f"messenger:{PSID}")
    _, message = await reply(client, conv.id, {"text": "hi"})
    await eventually(lambda: _failed(store, conv.id, message["id"]))
    _, error = await message_status(store, conv.id, message["id"])
    assert error is not None and "10/2018278" in error and "24-hour messaging window" in error
    assert len(fake.to("/messages")) == 1


async def _failed(store: Store, cid: str, mid: str) -> bool:
    return (await message_status(store, cid, mid))[0] == "failed"


async def test_long_instagram_replies_are_split_under_1000_bytes(
    client: TestClient, store: Store, graph: tuple[FakeProvider, str]
) -> None:
    fake, _ = graph
    await instagram(
        client, page_delivery([text_event(IGSID, "ig_L1", "请详细说明", recipient=IG_ACCOUNT)], obj="instagram")
    )
    [conv] = await conversations_of(store, f"instagram:{IGSID}")
    text = "您的退款申请已经提交成功。" * 40  # 520 characters, 1,560 bytes
    await reply(client, conv.id, {"text": text})
    await eventually(lambda: len(fake.to("/messages")) == 2)
    parts = [r.json["message"]["text"] for r in fake.to("/messages")]
    assert all(len(p.encode()) <= 1000 for p in parts) and "".join(parts) == text
    assert parts[0].endswith("。")


async def test_refusals_redelivery_and_the_handshake(client: TestClient, store: Store) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "fb-verify-5e6f-0", "hub.challenge": "CHALLENGE_ACCEPTED"}
    assert await (await client.get("/webhooks/messenger", params=params)).text() == "CHALLENGE_ACCEPTED"
    ig_params = {**params, "hub.verify_token": "fb-verify-5e6f-0"}
    assert (await client.get("/webhooks/instagram", params=ig_params)).status == 403  # Instagram has its own token

    payload = page_delivery([text_event(PSID, "m_D1", "重复投递测试")])
    body = json.dumps(payload).encode()
    assert (await client.post("/webhooks/messenger", data=body)).status == 401
    wrong = {"X-Hub-Signature-256": hub_signature(IG_SECRET, body)}  # the other app's secret
    assert (await client.post("/webhooks/messenger", data=body, headers=wrong)).status == 403
    misdirected = json.dumps(page_delivery([], obj="instagram")).encode()
    resp = await client.post(
        "/webhooks/messenger", data=misdirected, headers={"X-Hub-Signature-256": hub_signature(FB_SECRET, misdirected)}
    )
    assert resp.status == 422

    headers = {"X-Hub-Signature-256": hub_signature(FB_SECRET, body)}
    answers = await asyncio.gather(*(client.post("/webhooks/messenger", data=body, headers=headers) for _ in range(3)))
    assert [a.status for a in answers] == [200, 200, 200]
    assert [m.external_id for m in await messages_of(store, f"messenger:{PSID}")] == ["m_D1"]


async def test_an_instagram_like_is_stored_as_a_heart_and_offered_to_no_one(client: TestClient, store: Store) -> None:
    like = event(IGSID, IG_ACCOUNT, message={"mid": "aWdfTElLRQ", "attachments": [{"type": "like_heart"}]})
    assert (await instagram(client, page_delivery([like], obj="instagram")))["stored"] == 1
    [message] = await messages_of(store, f"instagram:{IGSID}")
    assert message.text == "❤️" and message.attachments == [] and "reaction" in message.flags
    [conv] = await conversations_of(store, f"instagram:{IGSID}")
    assert conv.routing_version == 0 and conv.queue is None  # no offer


async def test_standby_messages_are_kept_for_the_history_and_other_standby_events_counted(
    client: TestClient, store: Store
) -> None:
    standby = [
        event(IGSID, IG_ACCOUNT, message={"mid": "aWdfU1RCWQ", "text": "有人在吗"}),
        event(IGSID, IG_ACCOUNT, read={"mid": "aWdfT1VSUw"}),
    ]
    body = {"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": ms(), "standby": standby}]}
    answer = await instagram(client, body)
    assert (answer["stored"], answer["skipped"]) == (1, 1)
    [message] = await messages_of(store, f"instagram:{IGSID}")
    assert message.text == "有人在吗" and "standby" in message.flags
    [conv] = await conversations_of(store, f"instagram:{IGSID}")
    assert conv.routing_version == 0  # the app holding the thread answers it
    metrics = await (await client.get("/metrics")).text()
    assert 'gateway_inbound_ignored_total{channel="instagram",kind="standby_read"}' in metrics


async def test_a_messenger_edit_changes_the_message_it_names(client: TestClient, store: Store) -> None:
    await messenger(client, page_delivery([text_event(PSID, "m_ED1", "退款 100 元")]))
    edit = event(PSID, message_edit={"mid": "m_ED1", "text": "退款 150 元", "num_edit": 1})
    answer = await messenger(client, page_delivery([edit]))
    assert (answer["stored"], answer["amended"]) == (0, 1)
    assert (await messenger(client, page_delivery([edit])))["duplicates"] == 1
    [message] = await messages_of(store, f"messenger:{PSID}")
    assert message.text == "退款 150 元" and message.meta["edit"]["original_text"] == "退款 100 元"
