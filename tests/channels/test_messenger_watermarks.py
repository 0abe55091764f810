"""Messenger delivery and read watermarks over HTTP: a watermark moves every reply sent to
that customer up to its time forward (and only those), once, whatever the redelivery."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.channels.meta import watermarks
from gateway.channels.meta.watermarks import Watermark, covered_updates
from gateway.model import (
    Channel,
    Contact,
    Conversation,
    DeliveryStatus,
    Direction,
    Identity,
    IdentityKind,
    Message,
    Sender,
)
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Page, Store
from gateway.wiring.services import SERVICES
from tests.channels.social_fakes import (
    FakeProvider,
    conversations_of,
    hub_signature,
    message_status,
    reply,
    start_fake,
)
from tests.channels.test_meta_messaging import send_answer
from tests.conftest import eventually
from tests.helpers import gateway_config

FB_SECRET = "fb-app-secret-91c4"
IG_SECRET = "ig-app-secret-0b7e"
PAGE_ID = "998877665544332"
OTHER_PAGE = "123123123123123"
IG_ACCOUNT = "17841400000000077"
PSID = "4455667788990011"
PSID_2 = "1100998877665544"
IGSID = "6655443322110011"


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
async def client(aiohttp_client: Any, aiohttp_server: Any, store: Store, publisher: MemoryPublisher) -> TestClient:
    graph = await start_fake(aiohttp_server, FakeProvider(send_answer), "/v21.0")
    config = gateway_config(
        channels={
            "messenger": {
                "app_secret": FB_SECRET,
                "verify_token": "fb-verify-77aa-0",
                "page_access_token": "fb-page-token-5d1e",
                "page_id": PAGE_ID,
                "api_base_url": graph,
            },
            "instagram": {
                "app_secret": IG_SECRET,
                "verify_token": "ig-verify-88bb-0",
                "access_token": "ig-access-token-3f9a",
                "api_base_url": graph,
            },
        },
        reply_tracking={"scan_interval": "50ms"},
    )
    return await aiohttp_client(build_app(config, store=store, publisher=publisher))


def ms(seconds_ago: float = 0) -> int:
    return int((time.time() - seconds_ago) * 1000)


def event(sender: str, recipient: str = PAGE_ID, **body: Any) -> dict[str, Any]:
    return {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": ms(), **body}


def text_event(sender: str, mid: str, text: str, recipient: str = PAGE_ID) -> dict[str, Any]:
    return event(sender, recipient, message={"mid": mid, "text": text})


def delivery(*entries: list[dict[str, Any]], obj: str = "page") -> dict[str, Any]:
    owner = PAGE_ID if obj == "page" else IG_ACCOUNT
    return {"object": obj, "entry": [{"id": owner, "time": ms(), "messaging": events} for events in entries]}


def signed(payload: Any, secret: str = FB_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()  # non-ASCII escaped, as Meta sends it
    return body, {"X-Hub-Signature-256": hub_signature(secret, body)}


async def messenger(client: TestClient, payload: Any) -> dict[str, Any]:
    body, headers = signed(payload)
    resp = await client.post("/webhooks/messenger", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def instagram(client: TestClient, payload: Any) -> dict[str, Any]:
    body, headers = signed(payload, IG_SECRET)
    resp = await client.post("/webhooks/instagram", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def sent_reply(client: TestClient, store: Store, conversation_id: str, text: str) -> str:
    """An agent reply, once the fake Graph API took it: its message id."""
    status, body = await reply(client, conversation_id, {"text": text})
    assert status == 202, body

    async def external_id() -> str | None:
        message = await store.get_message(conversation_id, body["id"])
        return message.external_id if message and message.status is DeliveryStatus.SENT else None

    await eventually(external_id)
    return str(body["id"])


async def status_of(store: Store, conversation_id: str, message_id: str) -> str | None:
    return (await message_status(store, conversation_id, message_id))[0]


def status_events(publisher: MemoryPublisher, message_id: str) -> list[str]:
    bodies = [json.loads(e.body) for e in publisher.events if e.routing_key == "message.status"]
    return [b["status"] for b in bodies if b.get("message_id") == message_id]


async def customer_conversation(client: TestClient, store: Store, psid: str = PSID) -> Conversation:
    await messenger(client, delivery([text_event(psid, f"m_IN_{psid}", "我的转账还没到账")]))
    [conv] = await conversations_of(store, f"messenger:{psid}")
    return conv


async def test_watermarks_move_replies_sent_up_to_them_forward(
    client: TestClient, store: Store, publisher: MemoryPublisher
) -> None:
    conv = await customer_conversation(client, store)
    before_reply = ms() - 1
    first = await sent_reply(client, store, conv.id, "已为您查询，请稍候")
    watermark = ms()
    await eventually(lambda: ms() > watermark, interval=0.001)  # the later reply is sent after the watermark
    later = await sent_reply(client, store, conv.id, "款项已退回")

    # A watermark older than the reply, or for another page, changes nothing.
    answer = await messenger(client, delivery([event(PSID, delivery={"watermark": before_reply})]))
    assert answer["statuses_applied"] == 0 and answer["skipped"] == 0
    answer = await messenger(client, delivery([event(PSID, OTHER_PAGE, read={"watermark": watermark})]))
    assert answer["statuses_applied"] == 0
    assert await status_of(store, conv.id, first) == "sent"

    # Delivery with only a watermark: the reply before it is delivered, the later one not.
    answer = await messenger(client, delivery([event(PSID, delivery={"watermark": watermark, "seq": 0})]))
    assert answer["statuses_applied"] == 1
    assert await status_of(store, conv.id, first) == "delivered"
    assert await status_of(store, conv.id, later) == "sent"

    answer = await messenger(client, delivery([event(PSID, read={"watermark": watermark, "seq": 0})]))
    assert answer["statuses_applied"] == 1
    assert await status_of(store, conv.id, first) == "read"
    assert await status_of(store, conv.id, later) == "sent"

    # Forward only: the same delivery watermark again does not undo "read".
    answer = await messenger(client, delivery([event(PSID, delivery={"watermark": watermark})]))
    assert answer["statuses_applied"] == 0
    assert await status_of(store, conv.id, first) == "read"

    # A newer read watermark reaches the later reply; the first stays read.
    answer = await messenger(client, delivery([event(PSID, read={"watermark": ms()})]))
    assert answer["statuses_applied"] == 1
    assert await status_of(store, conv.id, later) == "read"

    await eventually(lambda: "read" in status_events(publisher, first) and "read" in status_events(publisher, later))
    assert sorted(status_events(publisher, first)) == ["delivered", "read", "sent"]
    assert sorted(status_events(publisher, later)) == ["read", "sent"]


async def test_the_same_read_watermark_twice_at_once_moves_each_reply_once(
    client: TestClient, store: Store, publisher: MemoryPublisher
) -> None:
    conv = await customer_conversation(client, store)
    first = await sent_reply(client, store, conv.id, "请提供订单号")
    second = await sent_reply(client, store, conv.id, "我们会在24小时内回复")
    body, headers = signed(delivery([event(PSID, read={"watermark": ms()})]))
    answers = await asyncio.gather(*(client.post("/webhooks/messenger", data=body, headers=headers) for _ in range(2)))
    assert [a.status for a in answers] == [200, 200]
    applied = [(await a.json())["statuses_applied"] for a in answers]
    assert sum(applied) == 2  # each reply moved by exactly one of the copies
    assert await status_of(store, conv.id, first) == "read"
    assert await status_of(store, conv.id, second) == "read"

    await eventually(lambda: "read" in status_events(publisher, first) and "read" in status_events(publisher, second))
    assert await client.app[SERVICES].relay.drain(30)  # every event either copy wrote is published
    assert sorted(status_events(publisher, first)) == ["read", "sent"]
    assert sorted(status_events(publisher, second)) == ["read", "sent"]


async def test_watermarks_in_a_batch_next_to_messages_and_mids(client: TestClient, store: Store) -> None:
    conv = await customer_conversation(client, store)
    mine = await sent_reply(client, store, conv.id, "您好，请问还有什么可以帮您？")
    message = await store.get_message(conv.id, mine)
    assert message is not None and message.external_id
    answer = await messenger(
        client,
        delivery(
            [
                text_event(PSID_2, "m_NEW_1", "你好，我也有问题"),
                event("0000000000000001", read={"watermark": ms()}),  # a customer we never heard of
                event(PSID_2, read={"watermark": ms()}),  # a customer without replies
                event(PSID, delivery={"mids": [message.external_id], "watermark": ms()}),
            ],
            [
                event(PSID, read={"watermark": "not a time"}),
                event(PSID, read={}),
                event(PSID, read={"watermark": ms()}),
                text_event(PSID, "m_NEW_2", "谢谢"),
            ],
        ),
    )
    assert answer == {"stored": 2, "duplicates": 0, "amended": 0, "statuses_applied": 2, "skipped": 2, "unreadable": 0}
    assert await status_of(store, conv.id, mine) == "read"
    [other] = await conversations_of(store, f"messenger:{PSID_2}")
    assert [m.external_id for m in await store.get_messages(other.id)] == ["m_NEW_1"]


async def test_a_failing_watermark_lookup_costs_only_the_watermark(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv = await customer_conversation(client, store)
    mine = await sent_reply(client, store, conv.id, "处理中")

    async def broken(*_: Any) -> Any:
        raise RuntimeError("a record that does not parse")

    monkeypatch.setattr("gateway.channels.meta.channel.covered_updates", broken)
    answer = await messenger(
        client, delivery([event(PSID, read={"watermark": ms()}), text_event(PSID, "m_AFTER", "还在吗")])
    )
    assert answer["stored"] == 1 and answer["statuses_applied"] == 0
    assert await status_of(store, conv.id, mine) == "sent"


async def test_instagram_read_by_mid_still_moves_the_reply(client: TestClient, store: Store) -> None:
    await instagram(client, delivery([text_event(IGSID, "ig_IN_1", "付款失败", recipient=IG_ACCOUNT)], obj="instagram"))
    [conv] = await conversations_of(store, f"instagram:{IGSID}")
    mine = await sent_reply(client, store, conv.id, "请重试一次")
    message = await store.get_message(conv.id, mine)
    assert message is not None and message.external_id
    answer = await instagram(
        client, delivery([event(IGSID, IG_ACCOUNT, read={"mid": message.external_id})], obj="instagram")
    )
    assert answer["statuses_applied"] == 1 and answer["skipped"] == 0
    assert await status_of(store, conv.id, mine) == "read"


# The look-up itself, on a recorded store: bounded, and only the customer's replies.

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CUSTOMER = Identity(kind=IdentityKind.MESSENGER, value=PSID)


def stored(kind: str, *, seconds_ago: float, sender: str = "", status: str | None = "sent", ext: str = "") -> Message:
    return Message(
        id=f"msg_{ext or sender or seconds_ago}",
        direction=Direction(kind),
        channel=Channel.MESSENGER,
        external_id=ext or None,
        sender=Sender(kind="customer" if kind == "inbound" else "agent", id=sender or None),
        received_at=NOW - timedelta(seconds=seconds_ago),
        status=DeliveryStatus(status) if status and kind == "outbound" else None,
    )


class RecordingReader:
    def __init__(self, conversations: list[Conversation], messages: dict[str, list[Message]]) -> None:
        self.conversations = conversations
        self.messages = messages
        self.calls: list[tuple[str, Any]] = []

    async def lookup_contact(self, identity_keys: list[str]) -> Contact | None:
        self.calls.append(("contact", identity_keys))
        return Contact(id="ct_1", created_at=NOW, identities=[CUSTOMER])

    async def list_conversations(self, *, contact_id: str | None = None, limit: int = 50) -> Page:
        self.calls.append(("conversations", limit))
        return Page(conversations=self.conversations[:limit])

    async def get_messages(self, conversation_id: str, *, limit: int = 500) -> list[Message]:
        self.calls.append(("messages", (conversation_id, limit)))
        return self.messages.get(conversation_id, [])[-limit:]


def conversation(cid: str, channel: Channel = Channel.MESSENGER, endpoint: str = PAGE_ID) -> Conversation:
    return Conversation(id=cid, contact_id="ct_1", channel=channel, endpoint=endpoint, created_at=NOW, updated_at=NOW)


async def test_the_lookup_reads_a_bounded_window_of_the_customers_own_replies() -> None:
    me, merged = f"messenger:{PSID}", f"messenger:{PSID_2}"
    history = [
        stored("inbound", seconds_ago=600, sender=me),
        stored("outbound", seconds_ago=590, ext="m_MINE"),
        stored("outbound", seconds_ago=580, ext="m_READ", status="read"),
        stored("outbound", seconds_ago=570, ext="m_FAILED", status="failed"),
        stored("outbound", seconds_ago=560, status="queued"),  # not sent yet: no provider id
        stored("note", seconds_ago=555, ext="m_NOTE"),
        stored("inbound", seconds_ago=550, sender=merged),  # a merged contact's other PSID
        stored("outbound", seconds_ago=540, ext="m_THEIRS"),
        stored("inbound", seconds_ago=530, sender=me),
        stored("outbound", seconds_ago=520, ext="m_MINE_2", status="delivered"),
        stored("outbound", seconds_ago=-5, ext="m_AFTER"),  # after the watermark
    ]
    old = [stored("outbound", seconds_ago=29 * 86400, ext="m_ANCIENT")]
    reader = RecordingReader(
        [
            conversation("cv_email", Channel.EMAIL, ""),
            conversation("cv_other_page", endpoint=OTHER_PAGE),
            conversation("cv_latest"),
            conversation("cv_previous"),
            conversation("cv_oldest"),
        ],
        {"cv_latest": history, "cv_previous": old, "cv_oldest": [stored("outbound", seconds_ago=900, ext="m_OLDEST")]},
    )
    mark = Watermark(Channel.MESSENGER, CUSTOMER, PAGE_ID, DeliveryStatus.READ, until=NOW, at=NOW)
    updates = await covered_updates(reader, mark)
    assert [(u.external_id, u.status, u.at) for u in updates] == [
        ("m_MINE", DeliveryStatus.READ, NOW),
        ("m_MINE_2", DeliveryStatus.READ, NOW),
    ]
    assert reader.calls == [
        ("contact", [me]),
        ("conversations", watermarks.LISTED_CONVERSATIONS),
        ("messages", ("cv_latest", watermarks.SCANNED_MESSAGES)),
        ("messages", ("cv_previous", watermarks.SCANNED_MESSAGES)),
    ]
    delivered = Watermark(Channel.MESSENGER, CUSTOMER, PAGE_ID, DeliveryStatus.DELIVERED, until=NOW)
    assert [u.external_id for u in await covered_updates(reader, delivered)] == ["m_MINE"]
